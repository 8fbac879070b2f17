"""The instructor's side of grading: the command, nbgrader's pipeline steps, the grading run.

    cli              the command (`python -m autograder`): collect, grade, feedback, export,
                     demo, kit, new
    collect          submissions from an LMS export, folders or nbgrader's exchange into
                     submitted/, with each submission's time
    inbox_names      what an inbox entry's name says: student id, LMS late mark, exchange time
    deadlines        due dates (option, config, gradebook), the late penalty plugin, late columns
    grading          the grade command: phase 1 (either engine), phase 2, the log
    engine           phase 1 with the `fork` engine: every exercise through the two servers,
                     no notebook run
    outputs          what an autograded notebook shows besides its verdicts: the student's
                     own outputs (untrusted) or the feedback run's
    rerun            the feedback run: graded notebooks run for their outputs, no score touched
    kernel_engine    phase 1 with the `kernel` engine: nbgrader's own autograde per student
    recorder         phase 2: the gradebook's single writer
    grader           the two grading servers (judge, candidate) and the work sent to them
    sandbox          bubblewrap, from an allow-list
    isolation        uid blocks (never reused in a run), cgroups (delegated to the judge), kernel tmpfs folders
    staging          where phase 1 leaves each notebook (or why it could not) for phase 2
    nbgrader_api     everything the command asks of nbgrader (config, API, gradebook, pipelines)
    verdicts         from a notebook to the judge's jobs, and from verdicts back to test cells
    curriculum       the graded exercises, as the judge's declarations define them
    preprocessors/   the course's nbgrader preprocessors, one per module
    report           grades.csv, scores.png and report.md
    samples          the sample classes and the demo
    release          release/ regenerated from source/
    kit              the student kit
    scaffold         the skeleton of a new assignment (`new`)

Imports run one way: cli -> grading -> (engine, rerun) -> grader -> (sandbox, isolation), with
kernel_engine and recorder beside engine, and nbgrader_api, staging, outputs, verdicts and
curriculum as leaves any of them may use; preprocessors/ uses grader, sandbox, isolation, staging and
verdicts, and nothing here imports it (nbgrader loads it by name).
"""
