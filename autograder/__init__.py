"""Instructor-side grading for the PyTorch course, split along its trust boundary.

    autograder/judge/       decides every exercise; never runs, imports or unpickles student code
    autograder/candidate/   where student code runs (a candidate answering its judge, a notebook
                            run for feedback, the confinement of each process)
    autograder/protocol/    what those processes say to each other: frames, typed messages with
                            total decoders, verdicts, limits, how values travel
    autograder/instructor/  the instructor's command: collect, grade, feedback, export, reports

Only `protocol/` and `candidate/` are readable in the sandbox that runs student code.

Student notebooks never import this package (they use ``course``). A source notebook's hidden
test cell calls ``autograder.judge.hidden_tests``; when a submission is graded that import
fails (the judge is not readable by student code) and the judge's verdict fills the cell.

How a submission is graded
--------------------------
Two servers, each in its own bubblewrap sandbox, started once per grading run (by the grade
command, or by the course's nbgrader preprocessor for plain ``nbgrader autograde``):

- the *candidate server* (``candidate/server.py``) has its *zygote* (``candidate/zygote.py``,
  a clean image forked before any request arrived) fork, per exercise, a *candidate*: a
  process that runs only the instructor's setup cells, the notebook's import lines and that
  exercise's solution cell, then answers requests (call this, build that, describe this object);
  and, only in the optional feedback run (``instructor/rerun.py``), per notebook, a child that
  runs the whole notebook for the student's feedback: no grade depends on it. Each child reads
  its student's cells from a memfd of its own, after the fork;
- the *judge server* (``judge/server.py``) forks, per exercise, a *judge*: it holds the
  declaration of the exercise (``judge/exercises/``: inputs, references, tolerances, mistakes),
  sends inputs, decodes every answer with its own code (``judge/seen.py``) and decides.

The command hands each judge and its candidate the two ends of one socket; nothing else
connects them. The verdict is computed in the judge's process, from references computed there:
the candidate never receives an expected value, a tolerance or a verdict, so there is nothing
in it to read, forge or rewrite that would earn a point. A candidate whose answers are right
for inputs it has never seen has solved the exercise.

Threat model
------------
A submission is untrusted code, written by someone who has read this package.

| threat | what stops it |
|---|---|
| rebinding torch, NumPy, builtins or ``course`` helpers; patched comparisons | the judge compares in its own process, where no student code ran |
| forging a verdict (on any pipe, in any cell's output) | verdicts exist only in the judge; the candidate's channel carries answers, never verdicts; test cells' outputs are replaced by the verdict |
| walking stack frames, ``gc`` or memory for expected values or tolerances | none of them exist in the candidate's process; the judge's sandbox is another PID namespace, under another uid |
| mutating the check tables | they live in the judge; the candidate has none to mutate |
| tensor subclasses, look-alikes, ``__torch_function__`` that agrees with anything | the candidate reports the exact type and torch's own C accessors read the values; a subclass is tampering |
| malformed, oversized, missing or late answers | every frame is size-capped before it is parsed (strict UTF-8; a lone surrogate becomes U+FFFD) and decoded field by field (``protocol.messages``, ``judge.seen``: total decoders, fuzzed with Hypothesis: for any bytes, a checked message or ``Malformed``, charged to the sender); a bad one fails that exercise, a dead or silent candidate too (``crashed``/``timeout``), for that student only |
| making a server or the command send more than a frame (huge or non-ASCII outputs, forged output frames, a solution cell of tens of MiB, a notebook saved with 60 MiB of images) | bounded before encoding: a notebook's outputs per cell and per notebook on the child's side of the pipe and again where they arrive (``candidate.notebook_channel``), so a server's report always fits; the command checks each request with its server's decoder and its size (``messages.encoded_request``): one that would not fit is refused for that student alone, with the reason; files that do not fit a run's request are left out and named; any error in one student's work is that student's |
| a kernel message of hundreds of MB (plain nbgrader) | zmq refuses a message part over ``KERNEL_MESSAGE`` on every socket to the kernel (MAXMSGSIZE) before anything parses it; that notebook loses its outputs |
| code elsewhere in the notebook (IPython hooks, edited or deleted test cells, patches) | the candidate runs only setup, import lines and the one solution cell; installed packages only (``python -I``: nothing the student planted in their folder is importable) |
| ``os._exit``, crashes, infinite loops, memory hogs, fork bombs, processes left behind | one process tree per uid, per-student cgroups (pids, memory incl. tmpfs) where the machine allows, own-time limits, ``kill(-1)`` sweeps of the uid after each tree; the report names what was found |
| holding the class (an IPython ``pre_run_cell`` hook sleeping just under the cell limit in every cell, ``atexit`` hooks, threads) | a limit on the whole notebook on every path; plain nbgrader's kernel too (``SafeExecute.notebook_timeout``: wall-clock from its start to its shutdown, and as many CPU seconds for the kernel process): past it the kernel is killed and the remaining cells say so |
| seeing classmates' processes (pids, uids, command lines in ``/proc``), or inheriting what an earlier student left under a uid | every root sandbox mounts its ``/proc`` with ``hidepid=2`` (only group 0, the grading servers, sees every process; a student process sees its own uid's); each kernel has its own PID namespace; a uid is never handed out twice in a run (``isolation.UidBlock``) |
| filling the grading machine's disk through the kernel's own folder (connection file, IPC sockets) | that folder is a 64 MiB tmpfs of its own, never the disk, its pages charged to the student's cgroup, unmounted when the kernel ends |
| driving a judge to allocate without bound | each judge child runs in a cgroup of its own (memory, tasks) under groups the grader delegates to the judge server, with an address-space limit too where there is no CUDA: it fails that exercise's check alone, as a grader error |
| reading the solutions, the gradebook, other students' files, the hidden checks | allow-list sandbox: only the Python environment, ``course``, ``protocol/`` and ``candidate/`` exist in it; each student's folder is 0700 under their uid |
| reading another student's cells or notebook from memory (a fork inherits its parent's heap) | children are forked from the zygote, which never receives a submission; the server, which holds every request, forks no student code; a child reads only its own work (a sealed memfd), after the fork; the uid sweeps' helpers are forked from the zygote too |
| SysV shared memory, semaphores, message queues (they outlive the process, its uid sweep and its cgroup) | an IPC namespace per candidate and notebook child, and per kernel (its sandbox's): what it made dies with it, it sees no other's (CAP_SYS_ADMIN, needed for it, is dropped by the server once its zygote is forked and by each child with its uid; the shell that remounts ``/proc`` drops it, and every capability, for every other sandbox: no process that runs student code holds one) |
| writing where a classmate's child can see, read or fill (``/dev/shm``, ``/tmp``, the working folder) or leaving files behind | each candidate and notebook child has a mount namespace of its own whose only writable places are a fresh tmpfs on its working folder (``tmp_bytes``) and one on ``/dev/shm`` (``file_bytes``), owned by its uid and charged to its cgroup (``confine.private_scratch``): no other child sees them, filling them fills nothing of anyone else's, and they vanish with its last process; the server's own ``/tmp`` is ``0711`` and no child can write there |
| killing the candidate server's zygote (the OOM killer picks the biggest process) so that every student in flight, and every later one, gets 0 | the server notices (its socket to the zygote closes), ends the children in flight as lost by the grader (status ``error``, "please tell the instructor", never a score), takes the spare zygote (forked by the first zygote, never by the server, so still clean), asks it for the next spare, and grades on |
| a frame of millions of tiny values (``[[],[],...]``: 64 MiB of JSON is ~1.6 GiB of Python objects) | ``frames.parse`` counts the values outside strings at C speed before ``json.loads`` and refuses more than ``MAX_VALUES`` (2 Mi) as ``Malformed``, charged to the sender: the worst frame still accepted parses to ~140 MiB; a notebook's outputs, a 60 MiB notebook's cells, a 1M-element tensor or list still parse |
| hiding an in-place change to an input, or passing a copy off as a view, by rewriting the candidate's own code in memory (its ``describe``, its operations such as ``fill``, how it builds inputs) | observed from outside: an input whose side effects a check judges (``Trial.make`` of a CPU tensor) lives in a sealed memfd the judge writes and maps itself (``judge/shared.py``); the candidate builds the tensor on that memory (a view of it stays there). After the call the judge reads its own mapping before anything the candidate reports, and a view is decided by a value of the judge's choosing (unpredictable: where and what) written into the input's memory, which a copy does not show; no candidate operation decides either. 03's ``load_from_nn_linear`` gets its ``ref`` (an nn.Linear fixture) with weight and bias on such memory: a change to ref is read there first, and sharing is decided by values the judge writes into ref's memory after the call, which ``my(x)`` shows only when my's parameters are on that memory (``tests/test_side_effects_outside.py``). Descriptors a candidate sends back are dropped unread (the judge reads its socket with plain reads); one that never maps the memory affects its own checks alone |
| writing where nbgrader later writes (symlinks to ``gradebook.db``) | student code runs in a private tmpfs copy, never in ``autograded/``; nothing it writes reaches the disk |
| links and special files planted in a submission folder (to ``/etc/shadow``, ``gradebook.db``, the next assignment's source, a classmate's notebook, ``/dev/zero``, a pipe), which a copy would follow as root | every copy of a submission asks ``instructor/planted.py`` first, from ``lstat`` alone: nbgrader's autograde and generate_feedback (replaced by ``SafeAutograde``/``SafeGenerateFeedback`` from ``nbgrader_config.py``), the grade command (both engines), the feedback run; such a folder is refused for that student, nothing in it opened |
| links, special files or hard links in a student's folder in nbgrader's exchange (``inbound/``, written by the student's own unix user, who can change it during the copy), which plain ``nbgrader collect`` copied with ``copytree`` following links, and stopped at a pipe | ``SafeExchangeCollect`` (``c.ExchangeFactory.collect`` in ``nbgrader_config.py``) asks ``planted`` for each student first, refuses that student's folder with one line (nothing of it copied, an earlier copy kept), collects the others, and exits non-zero naming who was refused; its copy follows nothing (``planted.copy_plain``: ``O_NOFOLLOW``, a regular file with one name once open, the copy checked after), so a folder changed after the check is refused as well |
| hard links in a submission (a file with other names: no cost to its maker's quota, e.g. a link to a huge readable file; it changes with the file it names) | refused like a symbolic link wherever a submission is checked or copied (``planted``); no honest route makes one (an instructor's ``cp -al`` copy of the course would: use ``cp -a``) |
| scripts in the formgrader or the feedback (student markdown, ``text/html``, JavaScript, SVG, image data or output metadata that breaks out of a tag, a markdown link made by the renderer's second pass, a student id with markup) | student content is made inert once every score is saved (``SanitizeStudentContent``, last in the autograde pipeline, and on the feedback run's outputs): the autograded notebook the formgrader renders and the feedback are cleaned alike; an id with markup is refused (``planted``) |
| zip bombs and zips of countless members in the inbox | ``collect`` counts members from the zip's end record before listing them, reads a notebook only within its declared size and fixed limits, and prints every name escaped |
| warnings on stderr (nbgrader scores such a cell 0) | the verdict decides: a correct solution keeps its points |
| steering the misconception report (a planted mistake id, a forged "Likely mistake" line) | a mistake id is a slug the judge attaches to its own `CheckFailed`, decoded as a slug or refused; the report reads it from the metadata the pipeline writes; a student can only be counted under a mistake by making it (0 points) |

Residual risks: without bubblewrap there is no sandbox (grading says so loudly and the report
lists those submissions); without root there is no per-student uid, cgroup or IPC namespace,
no ``hidepid`` and the kernel's folder is a plain temporary folder; judge cgroups are made for
cgroup v1 and v2 but tested on v1 only; the candidate children share the sandbox's PID
namespace (with ``hidepid`` they see no other uid's process; without root ``/proc`` lists other
students' processes, not their memory; a PID namespace per child was measured at ~10 ms more
per child, a second fork of the warm image to make a pid 1, on a check of ~160 ms, and not
made: ``hidepid`` already hides them); where the machine gives no cgroups, each child's
scratch tmpfs is bounded by its own size only (``tmp_bytes`` for its folder, ``file_bytes`` for
``/dev/shm``), not by a memory limit; a candidate that
rewrites its own process can misreport properties that only exist inside it (an input's
version counter, ``.grad`` and ``requires_grad``, a module's own structure, whether two of
its objects share memory (beyond 03's ``load_from_nn_linear``, judged from outside), where
``.to()`` put a tensor) though
never values it was not able to compute; for the properties observed from outside: a describing
code rewritten to read the input's shared memory at each description can show the judge's write
in a copy (that is computing the view it was asked for, at every request), and a candidate that
builds its function's input as a private copy of the shared memory leaves the judge's input
untouched, as a solution that clones first does (exercises that forbid in-place changes accept
that); a ``load_from_nn_linear`` whose forward computes with a private copy of ref's values
hides parameters on ref's memory from the write (that is computing the copy it was asked for); only CPU inputs are shared (a GPU trial's input is copied to the device; the CPU trial,
which always runs, judges the property); kernel exploits are out of scope. Math in student
markdown reaches MathJax as written, in the formgrader and the feedback; both pages load MathJax
with its Safe extension (the address nbconvert's template macro loads), which drops
``javascript:`` links from ``\\href`` and filters ``\\class``, ``\\style`` and ``\\require``
(``tests/test_math_safe.py``); a course that swaps nbgrader's templates must keep ``Safe``.
"""
