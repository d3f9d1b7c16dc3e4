"""Train a one-hidden-layer tanh network on iris or digits; save weights and data.

The data ship with scikit-learn (no download). The network is scikit-learn's
MLPClassifier with tanh units and a softmax output; its weights are saved in
symws' layout (W_l of shape (d_l, d_{l-1})), the standardized inputs and the
labels beside them:

    python examples/train.py --out iris
    symws bound --spec three_layer_tanh --weights iris/weights.npz \
        --data iris/data.npz --exact
    python examples/train.py --dataset digits --hidden 320 --samples 500 \
        --out digits
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits, load_iris
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="iris", help="output folder (default: iris)")
    parser.add_argument("--hidden", type=int, default=16, help="hidden units")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--dataset", choices=["iris", "digits"], default="iris")
    parser.add_argument("--samples", type=int, default=0,
                        help="use the first SAMPLES samples (default: all)")
    parser.add_argument("--epochs", type=int, default=3000, help="most epochs")
    args = parser.parse_args()

    data = load_iris() if args.dataset == "iris" else load_digits()
    X = StandardScaler().fit_transform(data.data)
    y = data.target.astype(np.int64)
    if args.samples:
        X, y = X[: args.samples], y[: args.samples]
    model = MLPClassifier(
        hidden_layer_sizes=(args.hidden,), activation="tanh", alpha=1e-4,
        max_iter=args.epochs, random_state=args.seed,
    ).fit(X, y)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    weights = {}
    for layer, (W, b) in enumerate(zip(model.coefs_, model.intercepts_), start=1):
        weights[f"W{layer}"] = W.T
        weights[f"b{layer}"] = b
    np.savez(out / "weights.npz", **weights)
    np.savez(out / "data.npz", X=X, y=y)
    print(
        f"trained {X.shape[1]}-{args.hidden}-{len(model.classes_)} tanh network on "
        f"{args.dataset} ({len(X)} samples): training accuracy "
        f"{model.score(X, y):.3f}, {model.n_iter_} epochs; wrote {out}/weights.npz "
        f"and {out}/data.npz"
    )


if __name__ == "__main__":
    main()
