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


def test_pipeline_cuts_split_blocks_into_contiguous_stages():
    from fftoolkit.ff import pipeline_cuts, stage_blocks

    assert pipeline_cuts(4, 1) == ()
    assert pipeline_cuts(4, 2) == (2,)
    assert pipeline_cuts(5, 2) == (3,)
    assert pipeline_cuts(4, 3) == (2, 3)
    assert [stage_blocks(4, 3, s) for s in range(3)] == [range(0, 2), range(2, 3), range(3, 4)]
    with pytest.raises(ValueError):
        pipeline_cuts(2, 3)


def test_cut_chunks_never_straddle_a_stage_boundary():
    """The chunked routine's odd steps (0)(1,2)(3) lose their straddling pair at a cut at 2;
    even steps (0,1)(2,3) do not straddle it and stay as they are."""
    cut = [c.blocks for c in chunk_schedule(4, 1, "chunked", cuts=(2,))]
    assert cut == [(0,), (1,), (2,), (3,)]
    assert blocks(4, 0, "chunked") == [c.blocks for c in chunk_schedule(4, 0, "chunked", (2,))]
    # overlapping: (1, 2) with block 2's loss keeps only (2); block 1 trains in (0, 1)
    chunks = chunk_schedule(4, 0, "overlapping", cuts=(2,))
    assert [(c.blocks, c.loss_blocks) for c in chunks] == [
        ((0,), (0,)), ((0, 1), (1,)), ((2,), (2,)), ((2, 3), (3,))]
    for step in (0, 1):
        for routine in ("chunked", "greedy", "overlapping"):
            for c in chunk_schedule(6, step, routine, cuts=(2, 4)):
                assert len({b >= 2 for b in c.blocks}) == len({b >= 4 for b in c.blocks}) == 1
            seen = [b for c in chunk_schedule(6, step, routine, (2, 4)) for b in c.loss_blocks]
            assert sorted(seen) == list(range(6))
