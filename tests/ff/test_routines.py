import pytest

from fftoolkit.ff import chunk_schedule


def blocks(num, step, routine):
    return [c.blocks for c in chunk_schedule(num, step, routine)]


def test_chunked_alternates_between_iterations():
    assert blocks(4, 0, "chunked") == [(0, 1), (2, 3)]
    assert blocks(4, 1, "chunked") == [(0,), (1, 2), (3,)]
    assert blocks(4, 2, "chunked") == blocks(4, 0, "chunked")
    assert blocks(6, 1, "chunked") == [(0,), (1, 2), (3, 4), (5,)]
    assert blocks(5, 0, "chunked") == [(0, 1), (2, 3), (4,)]


def test_greedy_and_overlapping():
    assert blocks(3, 0, "greedy") == [(0,), (1,), (2,)]
    chunks = chunk_schedule(4, 0, "overlapping")
    assert [c.blocks for c in chunks] == [(0,), (0, 1), (1, 2), (2, 3)]
    assert [c.loss_blocks for c in chunks] == [(0,), (1,), (2,), (3,)]


@pytest.mark.parametrize("routine", ["chunked", "greedy"])
@pytest.mark.parametrize("step", [0, 1])
def test_every_block_trained_exactly_once(routine, step):
    seen = [b for c in chunk_schedule(6, step, routine) for b in c.loss_blocks]
    assert sorted(seen) == list(range(6))
