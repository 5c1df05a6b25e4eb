import pytest
import torch

from agents.engine import TransformersEngine
from agents.models import tiny_model, tiny_tokenizer


@pytest.fixture
def tiny():
    """A random 2-layer Llama (vocab 384) and a byte tokenizer; no download."""
    torch.manual_seed(0)
    return tiny_model(seed=0), tiny_tokenizer()


@pytest.fixture
def engine(tiny):
    model, tok = tiny
    return TransformersEngine(model, tok, batch_size=4)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch thread: tiny matmuls are ~100x slower when threads oversubscribe a loaded CPU."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
