"""The recording thread's Gradebooks share one engine per URL (gradebook_engines.shared), and
nothing else changes: other threads, and everything after it, get nbgrader's own behaviour."""

import threading

from nbgrader import api
from nbgrader.api import Gradebook

from autograder.instructor import gradebook_engines


def test_gradebooks_in_shared_reuse_one_engine_checked_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    checks = []
    original = api.Base.metadata.create_all
    api.Base.metadata.create_all = lambda bind=None, **kw: (checks.append(bind), original(bind=bind, **kw))
    try:
        with gradebook_engines.shared():
            with Gradebook(url) as first:
                first.add_student("ada")
            with Gradebook(url) as second:
                assert second.engine is first.engine
                assert [s.id for s in second.students] == ["ada"]
            with Gradebook(f"sqlite:///{tmp_path / 'other.db'}") as other:
                assert other.engine is not first.engine
    finally:
        del api.Base.metadata.create_all
    assert len(checks) == 2  # once per database, not once per Gradebook
    with Gradebook(url) as after:
        assert after.engine is not first.engine
        assert [s.id for s in after.students] == ["ada"]


def test_other_threads_and_later_gradebooks_are_untouched(tmp_path):
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    nbgraders_own = api.create_engine, api.Base.metadata.create_all
    Gradebook(url).close()  # the schema made first (nbgrader runs alembic for a new one: seconds)
    inside, entered, leave = {}, threading.Event(), threading.Event()

    def record():
        try:
            with gradebook_engines.shared():
                with Gradebook(url) as gb:
                    inside["engine"] = gb.engine
                entered.set()
                leave.wait(60)
        finally:
            entered.set()

    thread = threading.Thread(target=record)
    thread.start()
    assert entered.wait(60) and "engine" in inside
    with Gradebook(url) as gb, Gradebook(url) as gb2:  # this thread never entered: its own engines
        assert gb.engine is not inside["engine"] and gb2.engine is not gb.engine
    leave.set()
    thread.join()
    assert (api.create_engine, api.Base.metadata.create_all) == nbgraders_own
    assert "create_all" not in vars(api.Base.metadata)
    assert inside["engine"].pool.checkedin() == 0  # disposed of when the thread left
