import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './paths.js';

export const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T;

export interface PublishedModel {
  input: [number, number, number];
  params?: number;
  params_no_aux?: number;
  params_approx?: number;
  gmacs?: number;
  gmacs_approx?: number;
  gmacs_stride_in_first_1x1?: number;
  classes?: number;
}

export const published = readJson<{ models: Record<string, PublishedModel> }>(
  join(ROOT, 'test', 'golden', 'published.json'),
).models;

export interface GoldenModel {
  input: [number, number, number];
  params: number;
  params_no_aux?: number;
  buffers: number;
  macs: number;
  layers: { name: string; type: string; outShape: number[]; macs: number }[];
  state_dict: [string, number[]][];
}

export const golden = readJson<{
  models: Record<string, GoldenModel>;
  extra: Record<string, { params: number; macs: number }>;
}>(join(ROOT, 'test', 'golden', 'torchvision.json'));
