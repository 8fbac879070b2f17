"""The judge's channel to a candidate: requests out, decoded answers back.

`Candidate` is what checks talk to. It sends the judge's inputs (`TensorInput`, `Spec`, plain
values, objects the candidate described before) and decodes every answer with `seen.decode`;
student code that raised comes back as `Raised`, a candidate that died, stopped answering or
broke the protocol as `LostCandidate`. Two transports:

- `Remote` (here): a socket to a candidate process (grading); descriptors travel with requests,
  so that an input can live in memory the judge maps itself (`judge.shared`, `Candidate.make`);
- `Local` (`judge.local`): an in-process candidate over the same encoding, for the
  instructor's own notebook and for fast tests of the checks. It runs student code in this
  process: never grade with it, and never import it in the judge server.
"""

import torch

from ..protocol import fixtures, frames, values
from ..protocol.limits import DEFAULT as LIMITS
from ..protocol.verdicts import Lost
from .seen import Malformed, SeenModule, SeenTensor, decode
from .shared import SharedInput, shareable


class Raised(Exception):
    """The student's code raised; `type_name`, `message` and `mro` say what."""

    def __init__(self, info):
        self.type_name = str(info.get("type", "Exception"))[:200]
        self.message = str(info.get("message", ""))[:4000]
        self.mro = [str(n) for n in info.get("mro", [])][:20] if isinstance(info.get("mro"), list) else []
        self.during = info.get("during")
        super().__init__(f"{self.type_name}: {self.message}")

    def is_a(self, name):
        return name == self.type_name or name in self.mro


class Missing(Exception):
    """The name the judge asked for is not defined by the solution cell."""


class LostCandidate(BaseException):
    """The candidate is gone: it died, closed its channel, went silent or sent garbage.

    A BaseException, so that nothing between the request and the verdict (Hypothesis
    included) mistakes it for a wrong answer and keeps asking a dead process."""

    def __init__(self, how, detail=""):
        self.how, self.detail = Lost(how), detail
        super().__init__(f"{self.how.value}: {detail}" if detail else self.how.value)


class TensorInput:
    """A tensor the judge sends: values from a judge-side tensor, made on `device` in the
    candidate, then `view` ops applied (so it can arrive non-contiguous), with autograd state."""

    def __init__(self, value, device="cpu", view=(), requires_grad=False, grad=None, share=False):
        self.value, self.device, self.view = value, torch.device(device), tuple(view)
        self.requires_grad, self.grad = requires_grad, grad
        self.share = share  # a field of a Spec: sent in shared memory where it can be (`Candidate.make`)

    def local(self):
        """The same tensor, built here the way the candidate builds it (CPU)."""
        t = self.value.detach().clone()
        if self.requires_grad:
            t.requires_grad_(True)
        for op in self.view:
            t = values.VIEW_OPS[op[0]](t, *op[1:])
        return t


class Spec:
    """A fixture for the candidate to build (see `autograder.protocol.fixtures` for the kinds):
    fields are plain data, TensorInputs, judge-side tensors and nested Specs. `here()` builds
    the same fixture in the judge's process, on the CPU, for the reference."""

    def __init__(self, kind, **fields):
        self.kind, self.fields = kind, fields

    def encoded(self, local=False, memories=None):
        """The spec on the wire. `memories`: a dict that collects, by dotted field path, the
        `SharedInput` of each TensorInput field made with `share` (a CPU tensor), whose values
        then travel in the descriptor numbered by its order in that dict."""
        return {"$": "spec", "kind": self.kind,
                **{k: _in_spec(v, local, memories, k) for k, v in self.fields.items()}}

    def here(self):
        return fixtures.build(self.encoded(local=True))


def _in_spec(value, local, memories=None, path=""):
    if isinstance(value, Spec):
        inner = None if memories is None else {}
        encoded = value.encoded(local, inner)
        if inner:  # nested: the numbering goes on from the outer spec's
            raise ValueError("a shared tensor must be a field of the outermost spec")
        return encoded
    if isinstance(value, TensorInput):
        device = "cpu" if local else value.device
        if value.share and memories is not None and not local and shareable(value):
            memories[path] = SharedInput(value)
            return values.encode_tensor_input(value.value, value.view, value.requires_grad, value.grad,
                                              device, shared=len(memories) - 1)
        return values.encode_tensor_input(value.value, value.view, value.requires_grad, value.grad, device)
    if isinstance(value, torch.Tensor):
        return values.encode_tensor_input(value, device="cpu")
    if isinstance(value, (list, tuple)):
        return [_in_spec(v, local) for v in value]
    if isinstance(value, dict):
        return {k: _in_spec(v, local) for k, v in value.items()}
    ref = getattr(value, "ref", None)
    if ref is not None and not isinstance(value, (int, float, str)):
        if local:
            raise ValueError("a spec that refers to the candidate's objects cannot be built here")
        return {"$": "ref", "ref": ref}
    return value


def encode(value):
    if isinstance(value, TensorInput):
        return values.encode_tensor_input(value.value, value.view, value.requires_grad,
                                          value.grad, value.device)
    if isinstance(value, Spec):
        return value.encoded()
    ref = getattr(value, "ref", None)
    if ref is not None and not isinstance(value, (int, float, str)):
        return {"$": "ref", "ref": ref}
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, torch.device):
        return {"$": "device", "device": str(value)}
    if isinstance(value, torch.dtype):
        return {"$": "dtype", "dtype": values.DTYPE_NAMES[value]}
    if isinstance(value, tuple):
        return {"$": "tuple", "items": [encode(v) for v in value]}
    if isinstance(value, list):
        return {"$": "list", "items": [encode(v) for v in value]}
    if isinstance(value, dict):
        return {"$": "dict", "items": [[encode(k), encode(v)] for k, v in value.items()]}
    raise TypeError(f"the judge cannot send a {type(value).__name__}")


class Remote:
    """A candidate process at the other end of socket `fd`."""

    def __init__(self, fd, timeout=None, limits=LIMITS):
        self.fd, self.timeout = fd, timeout
        self.reader = frames.Reader(limit=limits.answer_bytes, total=limits.answers_bytes)

    def receive(self):
        try:
            return frames.receive(self.fd, self.reader, self.timeout)
        except frames.Closed:
            raise LostCandidate("closed", "the candidate process ended without answering") from None
        except frames.Malformed as exc:
            raise LostCandidate("malformed", str(exc)) from None
        except TimeoutError:
            raise LostCandidate("timeout", "the candidate did not answer in time") from None
        except OSError as exc:
            raise LostCandidate("closed", str(exc)) from None

    shares_memory = True  # descriptors travel with requests (a Unix socket)

    def request(self, message, fds=()):
        try:
            frames.send(self.fd, message, fds=fds)
        except OSError as exc:
            raise LostCandidate("closed", f"the candidate stopped listening ({exc.strerror})") from None
        return self.receive()

    def close(self):
        try:
            frames.send(self.fd, {"op": "bye"})
        except OSError:
            pass


class Candidate:
    """Requests a check makes of the student's code. Every answer is checked and decoded."""

    def __init__(self, transport):
        self.transport = transport
        self.ready = None

    def start(self):
        """Wait for the candidate to load; returns its hello (with `problem` when the solution
        cell raised while loading)."""
        hello = self.transport.receive()
        if not isinstance(hello, dict) or hello.get("ready") is not True:
            raise LostCandidate("malformed", "the candidate did not say it was ready")
        problem = hello.get("problem")
        if problem is not None and not isinstance(problem, dict):
            raise LostCandidate("malformed", "a malformed hello")
        self.ready = hello
        return hello

    def _ask(self, message, fds=()):
        answer = self.transport.request(message, fds) if fds else self.transport.request(message)
        if not isinstance(answer, dict) or len(answer) not in (1, 2):
            raise LostCandidate("malformed", "an answer that is not one of value, raised, missing")
        try:
            if "value" in answer:
                value = decode(answer["value"])
                if "args" in answer:
                    if not isinstance(answer["args"], list):
                        raise Malformed("arguments after the call")
                    return value, [decode(a) for a in answer["args"]]
                if message.get("after"):  # the arguments as the call left them were asked for
                    raise Malformed("an answer without the arguments as the call left them")
                return value
        except Malformed as exc:
            raise LostCandidate("malformed", str(exc)) from None
        except Exception as exc:  # every decoder is total; should one not be, the bytes were the candidate's
            raise LostCandidate("malformed", f"an answer the judge could not decode ({type(exc).__name__})") from None
        if len(answer) != 1:
            raise LostCandidate("malformed", "an answer with extra fields")
        if isinstance(answer.get("raised"), dict):
            raise Raised(answer["raised"])
        if isinstance(answer.get("missing"), str):
            raise Missing(answer["missing"][:500])
        raise LostCandidate("malformed", f"an answer the judge did not ask for: {str(answer)[:200]}")

    def call(self, target, *args, after=False, **kwargs):
        """Call `target` (a name the solution defines, or something the candidate returned,
        optionally `.attrs`) with the judge's arguments; the decoded result (and, with
        `after`, the arguments as the call left them)."""
        message = {"op": "call", "target": self._target(target),
                   "args": [encode(a) for a in args], "kwargs": {k: encode(v) for k, v in kwargs.items()}}
        if after:
            message["after"] = True
        return self._ask(message)

    def method(self, obj, name, *args, **kwargs):
        return self.call((obj, name), *args, **kwargs)

    def get(self, obj, attr):
        return self._ask({"op": "get", "target": self._target((obj, attr))})

    def describe(self, obj):
        return self._ask({"op": "describe", "ref": obj.ref})

    def make(self, value):
        """Send `value` (a TensorInput, a Spec...) to be made and kept there; its description.

        A CPU TensorInput travels in shared memory (`judge.shared`) where the transport carries
        descriptors: the description's `shared` is the judge's own view of that memory (None
        otherwise), so that what the call does to the input is seen from outside. A Spec's
        fields made with `share` travel so too: the description's `shared` is then {field:
        SharedInput} ({} where nothing could be shared)."""
        shares = getattr(self.transport, "shares_memory", False)
        if isinstance(value, Spec):
            return self._make_spec(value, shares)
        if not (isinstance(value, TensorInput) and shareable(value) and shares):
            return self._ask({"op": "make", "value": encode(value)})
        shared = SharedInput(value)
        encoded = values.encode_tensor_input(value.value, value.view, value.requires_grad, value.grad,
                                             value.device, shared=0)
        try:
            made = self._ask({"op": "make", "value": encoded}, fds=[shared.fd])
        finally:
            shared.sent()
        if not isinstance(made, SeenTensor):
            raise LostCandidate("malformed", "an input tensor made as something else")
        made.shared = shared
        return made

    def _make_spec(self, spec, shares):
        memories = {} if shares else None
        try:
            encoded = spec.encoded(memories=memories)
            fds = [memory.fd for memory in (memories or {}).values()]
            made = self._ask({"op": "make", "value": encoded}, fds=fds)
        finally:
            for memory in (memories or {}).values():
                memory.sent()
        if memories:
            if not isinstance(made, SeenModule):
                raise LostCandidate("malformed", "a module fixture made as something else")
            made.shared = memories
        return made

    def op(self, name, *args, **kwargs):
        return self._ask({"op": "op", "name": name, "args": [encode(a) for a in args],
                          "kwargs": {k: encode(v) for k, v in kwargs.items()}})

    @staticmethod
    def _target(target):
        if isinstance(target, str):
            return {"name": target}
        if isinstance(target, tuple):
            base, *attrs = target
            spec = Candidate._target(base)
            spec["attrs"] = spec.get("attrs", []) + list(attrs)
            return spec
        return {"ref": target.ref}

    def close(self):
        self.transport.close()
