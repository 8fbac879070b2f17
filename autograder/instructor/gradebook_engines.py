"""One database engine per gradebook for the thread that records grades.

nbgrader opens a new `Gradebook` about ten times for every notebook it autogrades (its
converter, then each of its preprocessors), and each one builds a new SQLAlchemy engine and
checks the schema of every table again: about 20 ms apiece, most of the recording step's cost,
and on PostgreSQL a new connection each time. While `shared()` is active, the calling thread's
Gradebooks on one URL share one engine (its connections stay open, its compiled queries
cached) whose tables are checked once. Other threads are untouched: each thread that enters gets
engines of its own, and a thread that did not enter gets nbgrader's behaviour. Every engine is
disposed of when the thread leaves. What nbgrader writes is unchanged: the same statements, in
the same sessions; only the engine under them is reused.
"""

import contextlib
import threading

_LOCAL = threading.local()  # while this thread is inside shared(): .engines {url: engine}, .checked {engine}
_PATCH_LOCK = threading.Lock()
_USERS = 0  # threads inside shared(): nbgrader's functions are patched while there is one
_ORIGINALS = []  # what shared() replaced: create_engine, and create_all when set on the instance


def _engines():
    return getattr(_LOCAL, "engines", None)


def _create_engine(original):
    def create_engine(url, *args, **kwargs):
        engines = _engines()
        if engines is None:
            return original(url, *args, **kwargs)
        key = str(url)
        if key not in engines:
            engine = original(url, *args, **kwargs)
            engine.dispose = lambda *a, **k: None  # Gradebook.close: kept for the next one
            engines[key] = engine
        return engines[key]
    return create_engine


def _create_all(original):
    def create_all(bind=None, **kwargs):
        engines = _engines()
        if engines is None:
            return original(bind=bind, **kwargs)
        if bind in _LOCAL.checked:
            return None
        original(bind=bind, **kwargs)
        if bind in engines.values():
            _LOCAL.checked.add(bind)
        return None
    return create_all


@contextlib.contextmanager
def shared():
    """Within it, this thread's nbgrader Gradebooks on one URL share an engine (see the module
    docstring)."""
    global _USERS
    from nbgrader import api
    with _PATCH_LOCK:
        if _USERS == 0:
            _ORIGINALS[:] = [api.create_engine, vars(api.Base.metadata).get("create_all")]
            api.create_engine = _create_engine(api.create_engine)
            api.Base.metadata.create_all = _create_all(api.Base.metadata.create_all)
        _USERS += 1
    _LOCAL.engines, _LOCAL.checked = {}, set()
    try:
        yield
    finally:
        engines, _LOCAL.engines, _LOCAL.checked = _LOCAL.engines, None, None
        for engine in engines.values():
            del engine.dispose
            engine.dispose()
        with _PATCH_LOCK:
            _USERS -= 1
            if _USERS == 0:
                api.create_engine = _ORIGINALS[0]
                if _ORIGINALS[1] is None:
                    del api.Base.metadata.create_all  # MetaData's own method again
                else:
                    api.Base.metadata.create_all = _ORIGINALS[1]
