import torch

from leading.seeding import seeded


def test_seeded_block_is_reproducible_and_restores_the_callers_state():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    with seeded(5):
        a = torch.rand(4)
    assert torch.equal(torch.get_rng_state(), before)
    with seeded(5, "cpu"):
        b = torch.rand(4)
    torch.manual_seed(5)
    assert torch.equal(a, b) and torch.equal(a, torch.rand(4))
