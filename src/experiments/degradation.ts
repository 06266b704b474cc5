import { buildModel } from '../zoo/index.js';
import type { Budget, ExperimentContext, Outcome } from './experiment.js';
import { lineChart } from './plot.js';
import { registerExperiment } from './registry.js';
import { markdownTable, percent } from './report.js';
import { movingAverage } from './smooth.js';
import { type RunResult, subset, type TrainingBudget, trainRun } from './training.js';

/** The four nets of the ResNet paper's Fig. 6 comparison, at two depths each. */
const MODELS = ['plain20', 'plain56', 'resnet20', 'resnet56'] as const;

const BUDGETS: Record<Budget, TrainingBudget> = {
  quick: { train: 256, test: 128, epochs: 1, batch: 64, warmup: 0 },
  full: { train: 5000, test: 2000, epochs: 5, batch: 128, warmup: 1 },
};

/** Training error as the paper plots it: the fraction of each step's batch misclassified in training mode. */
const trainError = (accuracy: number) => 1 - accuracy;

async function run(ctx: ExperimentContext): Promise<Outcome> {
  const b = BUDGETS[ctx.budget];
  const data = subset(ctx.data, b);
  const [c, h, w] = data.train.shape;
  const runs: (RunResult & { name: string })[] = [];
  for (const name of MODELS) {
    ctx.log(`training ${name}`);
    const graph = buildModel(name, { input: [c, h, w], classes: data.train.classes });
    const r = await trainRun(ctx, {
      name,
      graph,
      data,
      epochs: b.epochs,
      batch: b.batch,
      lr: 0.1,
      warmup: b.warmup,
    });
    runs.push({ name, ...r });
  }
  const final = Object.fromEntries(
    runs.map((r) => {
      const last = r.epochs.at(-1)!;
      // The last epoch's running training error is the paper's measure; the steps of that epoch.
      return [r.name, { train: trainError(last.accuracy), test: 1 - last.testAccuracy, seconds: r.seconds }];
    }),
  ) as Record<(typeof MODELS)[number], { train: number; test: number; seconds: number }>;

  const degradation = final.plain56.train > final.plain20.train;
  const betterThanPlain = final.resnet56.train < final.plain56.train;
  const atLeastShallow = final.resnet56.train <= final.resnet20.train + 0.005;
  const verdict = degradation && betterThanPlain && atLeastShallow ? 'held' : 'did not hold';
  const [p20, p56, r20, r56] = MODELS.map((m) => percent(final[m].train));
  const residual = !betterThanPlain
    ? `with shortcuts the 56-layer net trains no better than plain56 (${r56})`
    : atLeastShallow
      ? `with shortcuts the 56-layer net trains at least as well as the 20-layer one (resnet56 ${r56}, resnet20 ${r20})`
      : `with shortcuts the 56-layer net trains better than plain56 (${r56} against ${p56}) but worse than resnet20 (${r20}): the shortcuts reduced the degradation without removing it in this budget`;
  const finding =
    `Final-epoch training error: plain20 ${p20}, plain56 ${p56}` +
    `${degradation ? ': the deeper plain net trains worse (degradation)' : ': the deeper plain net trains no worse (no degradation here)'}; ${residual}.`;

  const window = Math.max(1, Math.round(runs[0]!.steps.length / (6 * b.epochs)));
  const perStep = (pick: (r: (typeof runs)[number]) => number[]) =>
    runs.map((r) => ({
      label: r.name,
      dashed: r.name.startsWith('plain'),
      points: movingAverage(pick(r), window).map(
        (v, i) => [((i + 1) / r.steps.length) * b.epochs, v] as const,
      ),
      markers: false,
    }));
  const figures = [
    {
      name: 'training-error',
      caption: `Training error (moving average over ${window} steps) against epochs; dashed: plain nets, solid: ResNets (cf. He et al. 2015, Fig. 6).`,
      svg: lineChart({
        title: 'Training error: plain vs residual, 20 vs 56 layers',
        x: 'epoch',
        y: 'training error',
        series: perStep((r) => r.steps.map((s) => trainError(s.accuracy))),
        includeY: [0],
      }),
    },
    {
      name: 'test-error',
      caption: 'Test error after each epoch.',
      svg: lineChart({
        title: 'Test error after each epoch',
        x: 'epoch',
        y: 'test error',
        series: runs.map((r) => ({
          label: r.name,
          dashed: r.name.startsWith('plain'),
          points: r.epochs.map((e) => [e.epoch, 1 - e.testAccuracy] as const),
        })),
        includeY: [0],
      }),
    },
  ];
  const results = [
    markdownTable(
      [
        'model',
        'layers',
        'shortcuts',
        'train error (last epoch)',
        'test error',
        'train loss (last epoch)',
        'time',
      ],
      runs.map((r) => {
        const last = r.epochs.at(-1)!;
        return [
          r.name,
          r.name.replace(/\D+/, ''),
          r.name.startsWith('plain') ? 'none' : 'identity (option A)',
          percent(trainError(last.accuracy)),
          percent(1 - last.testAccuracy),
          last.loss.toFixed(4),
          `${r.seconds.toFixed(0)} s`,
        ];
      }),
    ),
    '',
    'Per epoch (training error / test error):',
    '',
    markdownTable(
      ['epoch', ...MODELS],
      runs[0]!.epochs.map((e, i) => [
        e.epoch,
        ...runs.map(
          (r) => `${percent(trainError(r.epochs[i]!.accuracy))} / ${percent(1 - r.epochs[i]!.testAccuracy)}`,
        ),
      ]),
    ),
  ].join('\n');
  const setup = [
    `The CIFAR-10 networks of He et al. 2015 (section 4.2: a 3x3 conv to 16 channels, three stages of n basic blocks at 16/32/64 channels, global average pooling, FC; 6n+2 layers; n = 3 and 9), built for ${data.train.shape.join('x')} ${ctx.data.name} images.`,
    "The plain nets are the same networks without shortcuts; the ResNets use the paper's option A (identity shortcuts, zero-padded where the width doubles), so each plain net and its residual twin have exactly the same parameters.",
    `Data: the first ${data.train.count} training and ${data.test.count} test images, no augmentation (the claim is about fitting the training set).`,
    `Training: ${b.epochs} epochs, batch ${b.batch}, SGD with Nesterov momentum 0.9, weight decay 5e-4, lr 0.1 with ${b.warmup} epoch${b.warmup === 1 ? '' : 's'} of linear warm-up and a cosine decay, Kaiming-normal initialisation, the same seed for every net.`,
    "Training error is measured as the paper plots it: each step's batch, in training mode, before the step's update.",
  ].join(' ');
  return {
    verdict,
    finding,
    setup,
    results,
    figures,
    raw: runs.map((r) => ({
      model: r.name,
      seconds: r.seconds,
      epochs: r.epochs,
      steps: r.steps.map((s) => ({ step: s.step, loss: s.loss, accuracy: s.accuracy, lr: s.lr })),
    })),
  };
}

registerExperiment({
  name: 'degradation',
  title: 'Deeper plain nets train worse; residual connections fix it',
  claim:
    '"When deeper networks are able to start converging, a degradation problem has been exposed: with the network depth increasing, accuracy gets saturated and then degrades rapidly. Unexpectedly, such degradation is not caused by overfitting, and adding more layers to a suitably deep model leads to higher training error." With identity shortcuts, "the 34-layer ResNet is better than the 18-layer ResNet" and the degradation is addressed (He, Zhang, Ren and Sun, "Deep Residual Learning for Image Recognition", CVPR 2016, section 1 and Fig. 6 on CIFAR-10: plain-56 trains worse than plain-20; ResNet-56 better than ResNet-20).',
  run,
});
