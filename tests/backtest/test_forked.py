import gc
import os

import pytest

from backtest.forked import Forked, thaw


def test_the_work_runs_in_a_child_and_its_result_comes_back():
    parent = os.getpid()
    data = list(range(1000))  # in the child as it was at the fork, not pickled there
    got = Forked(lambda: (os.getpid(), sum(data)))
    pid, total = got.result()
    thaw()
    assert pid != parent and total == sum(range(1000))


def test_a_failing_child_is_an_error_with_its_traceback():
    def work() -> None:
        raise ValueError("bad input in the child")

    with pytest.raises(RuntimeError, match="bad input in the child"):
        Forked(work).result()
    thaw()


def test_objects_stay_out_of_collections_from_the_fork_until_thaw():
    thaw()
    assert gc.get_freeze_count() == 0
    Forked(lambda: None).result()
    assert gc.get_freeze_count() > 0  # the parent's heap as it was at the fork
    thaw()
    assert gc.get_freeze_count() == 0
