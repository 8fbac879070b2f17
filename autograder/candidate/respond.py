"""The candidate: the student's definitions, answering a judge's requests.

A candidate process runs the instructor's setup cells, the import lines of the student's
notebook and one exercise's solution cell (nothing else the student wrote), then answers:

    call      call a defined name, or an object it returned, or one of its methods
    get       read an attribute of an object it returned
    describe  describe an object again (after a call changed it)
    op        one of a fixed menu of torch operations on its objects (`operations.OPS`):
              backward, move a module, set the training flag, write into a tensor, ...
    make      make an input (a tensor, or a fixture described by the judge:
              `protocol.fixtures`, e.g. a module or a function to differentiate) and keep it,
              to pass it by reference
    bye       stop

Answers are descriptions (`describe`), or what the student's code raised. The judge
never sends its expected values, its tolerances or its verdict here: this process only ever
sees inputs, so nothing in it can be read or rewritten to pass.
"""

import os
import warnings

from ..protocol import fixtures, frames, values
from .describe import describe
from .operations import OPS

_exec, _compile, _getattr, _type, _str, _close = exec, compile, getattr, type, str, os.close
_BaseException = BaseException


class NoIPython:
    """Stands in for get_ipython(): cells with magics compile and run, the magics do nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def load(job):
    """The namespace of one exercise's candidate (a `Job`): setup cells, import lines,
    solution cell(s). Returns (namespace, problem): problem is None, or what went wrong
    running the solution."""
    namespace = {"__name__": "__main__", "__builtins__": __builtins__, "get_ipython": NoIPython}
    for i, source in enumerate(job.setup):
        _exec(_compile(source, f"<setup cell {i + 1}>", "exec"), namespace)
    for line in job.imports:
        try:
            _exec(_compile(line, "<an import from your notebook>", "exec"), namespace)
        except _BaseException:  # an import that fails here failed in the notebook too
            pass
    for cell_id, source in job.solutions:
        try:
            _exec(_compile(source, f"<solution cell {cell_id}>", "exec"), namespace)
        except _BaseException as exc:  # SystemExit and KeyboardInterrupt too
            return namespace, raised(exc, f"running the solution cell {cell_id!r} on its own")
    return namespace, None


def raised(exc, during=None):
    t = _type(exc)
    try:
        message = _str(exc)
    except _BaseException:
        message = "<the error message could not be printed>"
    out = {"type": t.__name__, "module": _str(_getattr(t, "__module__", "")),
           "mro": [c.__name__ for c in t.__mro__][:20], "message": message[:4000]}
    if during:
        out["during"] = during
    return out


class Responder:
    """Answers requests against one namespace (also used in-process by the judge's Local)."""

    def __init__(self, namespace):
        self.namespace = namespace
        self.handles = values.Handles()

    def target(self, spec):
        if "name" in spec:
            name = spec["name"]
            if name not in self.namespace:
                raise LookupError(f"the solution cell does not define {name!r}")
            obj = self.namespace[name]
        else:
            obj = self.handles.get(spec["ref"])
        for attr in spec.get("attrs", ()):
            obj = _getattr(obj, attr)
        return obj

    def args(self, request):
        made = lambda enc: values.materialize(enc, self.handles, fixtures.build)  # noqa: E731
        return ([made(a) for a in request.get("args", ())],
                {k: made(v) for k, v in request.get("kwargs", {}).items()})

    def answer(self, request, fds=()):
        """The response to one request, as a dict ready for the wire. `fds`: the descriptors
        that came with it (closed here, whatever happens)."""
        try:
            return self._answer(request, fds)
        finally:
            for fd in fds:
                _close(fd)

    def make(self, enc, fds):
        """An input the judge sent, made here; one in shared memory built on it."""
        if _type(enc) is dict and enc.get("$") == "tensor" and enc.get("shared") is not None:
            return values.make_shared_tensor(enc, fds[enc["shared"]])
        if _type(enc) is dict and enc.get("$") == "spec":  # its shared fields are built on `fds`
            return fixtures.build(enc, self.handles, fds=fds)
        return values.materialize(enc, self.handles, fixtures.build)

    def _answer(self, request, fds):
        op = request.get("op")
        try:
            if op == "call":
                fn = self.target(request["target"])
                args, kwargs = self.args(request)
            elif op == "get":
                obj = self.target(request["target"])
                return {"value": describe(obj, self.handles)}
            elif op == "describe":
                return {"value": describe(self.handles.get(request["ref"]), self.handles)}
            elif op == "op":
                args, kwargs = self.args(request)
                fn = OPS[request["name"]]
            elif op == "make":
                made = self.make(request["value"], fds)
                return {"value": describe(made, self.handles)}
            else:
                return {"error": f"unknown request {op!r}"}
        except LookupError as exc:
            return {"missing": _str(exc)}
        except _BaseException as exc:
            return {"raised": raised(exc, "getting ready to call")}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = fn(*args, **kwargs)
        except _BaseException as exc:
            return {"raised": raised(exc)}
        try:
            answer = {"value": describe(result, self.handles)}
            if request.get("after"):  # the arguments as the call left them
                answer["args"] = [describe(a, self.handles) for a in args]
            return answer
        except _BaseException as exc:
            return {"raised": raised(exc, "describing the result")}


def serve(fd, job):
    """The candidate process's life: load, say so, answer until the judge says bye."""
    reader = frames.Reader(limit=frames.MAX_FRAME)
    namespace, problem = load(job)
    frames.send(fd, {"ready": True, "problem": problem,
                   "defined": sorted(k for k in namespace if not k.startswith("__"))[:1000]})
    responder = Responder(namespace)
    while True:
        try:
            request = frames.receive(fd, reader, want_fds=True)
        except (frames.Closed, frames.Malformed):
            return
        if request.get("op") == "bye":
            return
        # the judge waits for each answer: every descriptor received so far came with this request
        frames.send(fd, responder.answer(request, reader.take_fds(len(reader.fds))))
