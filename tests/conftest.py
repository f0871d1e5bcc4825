import pytest
import torch

from kinema.presets import get_preset
from kinema.train import prepare_run, train


@pytest.fixture(scope="session", autouse=True)
def _deterministic_threads():
    # Two cores: a fixed thread count keeps timings steady and avoids oversubscription
    # when a test starts the CLI in a subprocess.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def debug_run(tmp_path_factory) -> object:
    """A trained `debug` run folder, shared by the tests that need a checkpoint."""
    run = tmp_path_factory.mktemp("debug-run")
    cfg = prepare_run(run, get_preset("debug"), resume=False)
    train(run, cfg, torch.device("cpu"))
    return run
