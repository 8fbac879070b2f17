"""Judge one exercise: run its check against a candidate and turn the outcome into a `Verdict`.

A judge that loses its candidate (it hung up, went silent or sent garbage) says so in the
verdict's `lost`, so that whoever watched the candidate's process can settle whether it ran
out of time or crashed (`Verdict.settle`).
"""

from ..protocol.verdicts import Lost, Status, Verdict, grader_failed
from .channel import Candidate, LostCandidate
from .compare import CheckFailed, Tampering
from .exercises import exercise

LOST = {
    Lost.CLOSED: (Status.CRASHED, "the process running your code ended before answering: it called "
                                  "os._exit or sys.exit, crashed, or ran out of memory"),
    Lost.TIMEOUT: (Status.TIMEOUT, "your code did not answer in time (an infinite loop, or very slow code)"),
    Lost.MALFORMED: (Status.TAMPERING, "Tampering detected: the channel to the grader carried something "
                                       "the grader did not write"),
}


def judge(assignment, ex_id, transport, devices):
    """The verdict for exercise `ex_id` of `assignment`, asking the candidate behind `transport`."""
    ex = exercise(assignment, ex_id)
    candidate = Candidate(transport)
    try:
        hello = candidate.start()
        problem = hello.get("problem")
        if problem:
            message = (f"{problem.get('during', 'running the solution cell')} raised "
                       f"{problem.get('type', 'an error')}: {str(problem.get('message', ''))[:2000]}. "
                       "The cell must hold the whole definition and run without the cells around it.")
            return Verdict(Status.ERROR, message)
        ex.run(candidate, devices)
        verdict = Verdict(Status.PASS)
    except Tampering as exc:
        verdict = Verdict(Status.TAMPERING, str(exc))
    except CheckFailed as exc:
        verdict = Verdict(Status.FAIL, str(exc), mistake=exc.mistake)
    except LostCandidate as exc:
        status, message = LOST[exc.how]
        verdict = Verdict(status, f"{message} ({exc.detail}).", lost=exc.how)
    except Exception as exc:  # a fault of the grader's own: never the student's points silently
        verdict = grader_failed(f"the grader could not check this exercise ({type(exc).__name__}: {exc})")
    finally:
        candidate.close()
    return verdict
