/**
 * L2-regularised logistic regression fitted by Newton's method (IRLS), deterministic: no random
 * step, a fixed start, a fixed summation order. Rows are already encoded and standardised.
 *
 * Model: P(y = 1 | x) = σ(b + w·x), σ(t) = 1 / (1 + e^−t).
 * Objective (minimised): J(b, w) = −Σᵢ [yᵢ ln μᵢ + (1 − yᵢ) ln(1 − μᵢ)] + (λ/2)·‖w‖², μᵢ = σ(b + w·xᵢ);
 * the intercept b is not penalised. With θ = (b, w) and x̃ = (1, x):
 *   gradient  g = Σᵢ (μᵢ − yᵢ)·x̃ᵢ + λ·(0, w)
 *   Hessian   H = Σᵢ μᵢ(1 − μᵢ)·x̃ᵢx̃ᵢᵀ + λ·diag(0, 1, …, 1)
 * Newton step θ ← θ − H⁻¹g (H is positive definite for λ > 0, solved by Cholesky), halved while
 * it does not lower J (J is convex, so this only guards the first steps).
 */

export interface LogisticFit {
  intercept: number;
  weights: number[];
  iterations: number;
  converged: boolean;
  /** The objective J at the solution (negative log-likelihood + penalty). */
  objective: number;
}

export interface LogisticOptions {
  l2: number;
  maxIterations: number;
  /** Converged when the largest change of a coefficient is below this. */
  tolerance: number;
}

export const sigmoid = (t: number): number => (t >= 0 ? 1 / (1 + Math.exp(-t)) : Math.exp(t) / (1 + Math.exp(t)));

/** ln(1 + e^t) without overflow. */
const softplus = (t: number): number => (t > 0 ? t + Math.log1p(Math.exp(-t)) : Math.log1p(Math.exp(t)));

/** J(θ): per row, −[y ln σ(t) + (1 − y) ln(1 − σ(t))] = softplus(t) − y·t. */
function objective(X: readonly Float64Array[], y: readonly (0 | 1)[], theta: Float64Array, l2: number): number {
  let j = 0;
  for (let i = 0; i < X.length; i++) {
    const t = linear(theta, X[i]!);
    j += softplus(t) - y[i]! * t;
  }
  for (let k = 1; k < theta.length; k++) j += (l2 / 2) * theta[k]! ** 2;
  return j;
}

/** θ₀ + Σ θₖ₊₁·xₖ */
function linear(theta: Float64Array, x: Float64Array): number {
  let t = theta[0]!;
  for (let k = 0; k < x.length; k++) t += theta[k + 1]! * x[k]!;
  return t;
}

/** Gradient and Hessian of J at θ (see the header). H is returned as a dense row-major matrix. */
function gradHess(X: readonly Float64Array[], y: readonly (0 | 1)[], theta: Float64Array, l2: number) {
  const p = theta.length;
  const g = new Float64Array(p);
  const H = new Float64Array(p * p);
  const xt = new Float64Array(p);
  xt[0] = 1;
  for (let i = 0; i < X.length; i++) {
    xt.set(X[i]!, 1);
    const mu = sigmoid(linear(theta, X[i]!));
    const r = mu - y[i]!;
    const w = mu * (1 - mu);
    for (let a = 0; a < p; a++) {
      g[a]! += r * xt[a]!;
      for (let b = 0; b <= a; b++) H[a * p + b]! += w * xt[a]! * xt[b]!;
    }
  }
  for (let a = 1; a < p; a++) {
    g[a]! += l2 * theta[a]!;
    H[a * p + a]! += l2;
  }
  for (let a = 0; a < p; a++) for (let b = a + 1; b < p; b++) H[a * p + b] = H[b * p + a]!; // symmetric
  return { g, H };
}

/** Solves H·d = g for symmetric positive-definite H by Cholesky (H = L·Lᵀ, then two triangular solves). */
export function choleskySolve(H: Float64Array, g: Float64Array): Float64Array {
  const p = g.length;
  const L = new Float64Array(p * p);
  for (let i = 0; i < p; i++) {
    for (let j = 0; j <= i; j++) {
      let s = H[i * p + j]!;
      for (let k = 0; k < j; k++) s -= L[i * p + k]! * L[j * p + k]!;
      if (i === j) {
        // A tiny ridge keeps a numerically singular H (e.g. a saturated intercept) solvable.
        L[i * p + i] = Math.sqrt(Math.max(s, 1e-12));
      } else L[i * p + j] = s / L[j * p + j]!;
    }
  }
  const z = new Float64Array(p); // L·z = g
  for (let i = 0; i < p; i++) {
    let s = g[i]!;
    for (let k = 0; k < i; k++) s -= L[i * p + k]! * z[k]!;
    z[i] = s / L[i * p + i]!;
  }
  const d = new Float64Array(p); // Lᵀ·d = z
  for (let i = p - 1; i >= 0; i--) {
    let s = z[i]!;
    for (let k = i + 1; k < p; k++) s -= L[k * p + i]! * d[k]!;
    d[i] = s / L[i * p + i]!;
  }
  return d;
}

/** Fits the model. Starts at w = 0, b = logit(base rate), so the first step is already sensible. */
export function fitLogistic(X: readonly Float64Array[], y: readonly (0 | 1)[], opts: LogisticOptions): LogisticFit {
  const p = (X[0]?.length ?? 0) + 1;
  const theta = new Float64Array(p);
  const rate = Math.min(1 - 1e-6, Math.max(1e-6, y.reduce<number>((s, v) => s + v, 0) / y.length));
  theta[0] = Math.log(rate / (1 - rate));
  let j = objective(X, y, theta, opts.l2);
  let iterations = 0;
  let converged = false;
  while (iterations < opts.maxIterations && !converged) {
    iterations++;
    const { g, H } = gradHess(X, y, theta, opts.l2);
    const step = choleskySolve(H, g);
    let scale = 1;
    let next = theta.map((t, k) => t - step[k]!);
    let jNext = objective(X, y, next, opts.l2);
    while (jNext > j && scale > 1e-6) {
      scale /= 2;
      next = theta.map((t, k) => t - scale * step[k]!);
      jNext = objective(X, y, next, opts.l2);
    }
    const change = Math.max(...next.map((t, k) => Math.abs(t - theta[k]!)));
    theta.set(next);
    j = jNext;
    converged = change < opts.tolerance;
  }
  return { intercept: theta[0]!, weights: Array.from(theta.subarray(1)), iterations, converged, objective: j };
}
