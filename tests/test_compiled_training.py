"""`kinema train --compile` in one process: every block compiled, the same training as eager."""

from dataclasses import replace

import torch
from safetensors.torch import load_file

from kinema.presets import get_preset
from kinema.train import prepare_run, start_from_autoencoder, train


def test_compiled_blocks_train_like_eager(tmp_path):
    """Both runs start from one trained autoencoder, so only the transformer stage runs
    (and compiles): the blocks must go through torch.compile and train as eager ones do."""
    from torch._dynamo.utils import counters

    eager_cfg = get_preset("debug")
    compiled_cfg = replace(eager_cfg, parallel=replace(eager_cfg.parallel, compile=True))
    first = tmp_path / "first"
    prepare_run(first, eager_cfg, resume=False)
    train(first, eager_cfg, torch.device("cpu"))
    finals = {}
    for name, cfg in (("eager", eager_cfg), ("compiled", compiled_cfg)):
        run = tmp_path / name
        start_from_autoencoder(run, cfg, first)
        counters.clear()
        finals[name] = train(run, cfg, torch.device("cpu"))
        graphs = counters["stats"]["unique_graphs"]
        assert graphs > 0 if name == "compiled" else graphs == 0
    eager = load_file(finals["eager"] / "transformer.safetensors")
    compiled = load_file(finals["compiled"] / "transformer.safetensors")
    assert eager.keys() == compiled.keys()  # compiling in place keeps the state-dict keys
    assert compiled["final_layer.linear.weight"].abs().sum() > 0  # zero at init: it trained
    for key in eager:
        torch.testing.assert_close(compiled[key], eager[key], rtol=1e-3, atol=1e-4)
