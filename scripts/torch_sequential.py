#!/usr/bin/env python3
"""Loads a Lockstep checkpoint into the equivalent torch.nn.Sequential and evaluates it.

    scripts/torch_sequential.py CHECKPOINT [--data-dir DIR] [--limit-test N] [--json]

Builds the network from the layer list the checkpoint stores (metadata "model", format version 2;
the MLP of the stored configuration for version 1), loads the parameters with
`load_state_dict(strict=True)` (the names are Sequential's: "0.weight", "3.bias", ...; version 1's
"layers.{k}.*" are the k-th linear layer, at position 2k + 1 after the flatten), and prints the
test loss and accuracy on the Fashion-MNIST test set (pixels / 255, NCHW [N, 1, 28, 28]).

Needs `python3 -m pip install torch==2.13.0 safetensors numpy`.
"""

import argparse
import json
import re

import torch
from safetensors import safe_open

from checkpoint_interop import test_set  # the same IDX reader the numpy check uses


def layer_list(metadata):
    """The layer list: version 2 stores it; version 1 held the MLP of its configuration."""
    if "model" in metadata:
        return metadata["model"].split()
    hidden = json.loads(metadata["configuration"])["hiddenSizes"]
    return ["flatten"] + [item for width in hidden for item in (f"linear({width})", "relu")] + ["linear(10)"]


def sequential(layers, state):
    """torch.nn.Sequential for the canonical layer texts, input sizes read from the weights."""
    nn = torch.nn
    modules = []
    for index, item in enumerate(layers):
        name, _, rest = item.partition("(")
        arguments = [a for a in rest.rstrip(")").split(",") if a]
        positional = [a for a in arguments if "=" not in a]
        named = dict(a.split("=") for a in arguments if "=" in a)
        weight = state.get(f"{index}.weight")
        if name == "linear":
            modules.append(nn.Linear(weight.shape[1], weight.shape[0]))
        elif name == "conv2d":
            kernel = tuple(int(k) for k in positional[1].split("x")) if "x" in positional[1] else int(positional[1])
            modules.append(nn.Conv2d(weight.shape[1], weight.shape[0], kernel,
                                     stride=int(named.get("stride", 1)), padding=int(named.get("padding", 0))))
        elif name in ("maxpool2d", "avgpool2d"):
            window = int(positional[0])
            pool = nn.MaxPool2d if name == "maxpool2d" else nn.AvgPool2d
            modules.append(pool(window, int(named.get("stride", window))))
        elif name == "flatten":
            modules.append(nn.Flatten())
        elif name == "relu":
            modules.append(nn.ReLU())
        elif name == "gelu":
            modules.append(nn.GELU(approximate="tanh"))
        elif name == "dropout":
            modules.append(nn.Dropout(float(positional[0])))
        else:
            raise SystemExit(f"unknown layer {item!r}")
    model = nn.Sequential(*modules)
    model.load_state_dict(state, strict=True)
    return model.eval()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--limit-test", type=int)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    try:
        with safe_open(args.path, framework="pt") as handle:
            metadata = handle.metadata() or {}
            state = {name: handle.get_tensor(name) for name in handle.keys() if not name.startswith("optimizer.")}
    except Exception as error:  # a missing, truncated or foreign file: one line, not a traceback
        raise SystemExit(f"error: cannot read {args.path} as a safetensors checkpoint: {error}")
    if "model" not in metadata and "configuration" not in metadata:
        raise SystemExit(f"error: {args.path} is not a lockstep checkpoint (no \"model\" or \"configuration\" metadata)")
    if metadata.get("format_version") == "1":
        state = {re.sub(r"^layers\.(\d+)\.", lambda m: f"{2 * int(m.group(1)) + 1}.", k): v for k, v in state.items()}
    layers = layer_list(metadata)
    model = sequential(layers, state)
    images, labels = test_set(args.data_dir, args.limit_test)
    with torch.no_grad():
        logits = model(torch.from_numpy(images).reshape(-1, 1, 28, 28))
        loss = torch.nn.functional.cross_entropy(logits.double(), torch.from_numpy(labels)).item()
        correct = int((logits.argmax(dim=1).numpy() == labels).sum())
    result = {"layers": " ".join(layers), "test_samples": len(labels), "test_loss": loss,
              "test_accuracy": correct / len(labels), "correct": correct}
    print(json.dumps(result) if args.json else
          f"{result['layers']}: test loss {loss:.6f}  test acc {correct / len(labels):.6f}  ({len(labels)} samples)")


if __name__ == "__main__":
    main()
