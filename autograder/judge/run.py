"""Judge one exercise: run its check against a candidate and turn the outcome into a verdict.

A verdict is plain data: {"status", "message"} with status one of pass, fail, error,
tampering, timeout, crashed, and "lost" (how the candidate was lost: closed, malformed,
timeout) when it stopped answering, so that whoever watched the candidate's process can say
whether it ran out of time or crashed.
"""

from .candidate import Candidate, Lost
from .compare import CheckFailed, Tampering
from .exercises import exercise

STATUSES = ("pass", "fail", "error", "tampering", "timeout", "crashed")
LOST = {
    "closed": ("crashed", "the process running your code ended before answering: it called "
                          "os._exit or sys.exit, crashed, or ran out of memory"),
    "timeout": ("timeout", "your code did not answer in time (an infinite loop, or very slow code)"),
    "malformed": ("tampering", "Tampering detected: the channel to the grader carried something "
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
            return {"status": "error", "message": message}
        ex.run(candidate, devices)
        verdict = {"status": "pass", "message": ""}
    except Tampering as exc:
        verdict = {"status": "tampering", "message": str(exc)}
    except CheckFailed as exc:
        verdict = {"status": "fail", "message": str(exc)}
    except Lost as exc:
        status, message = LOST.get(exc.how, LOST["closed"])
        verdict = {"status": status, "message": f"{message} ({exc.detail}).", "lost": exc.how}
    except Exception as exc:  # a fault of the grader's own: never the student's points silently
        verdict = {"status": "error", "message": f"the grader could not check this exercise "
                   f"({type(exc).__name__}: {exc}); please tell the instructor.", "grader_error": True}
    candidate.close()
    verdict["message"] = verdict["message"][:20000]
    return verdict
