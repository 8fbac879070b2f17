"""What the grader's processes say to each other, readable in every sandbox.

    frames      length-prefixed JSON frames, size-capped readers (the only wire format)
    fields      the building blocks of every total decoder
    messages    the frames between the command and the two servers, as types
    verdicts    Verdict, Status, Ended: how an exercise's grading and a child process ended
    limits      every limit of a grading run, with its default, once
    values      how tensors and containers travel between a judge and its candidate
    fixtures    what a judge asks a candidate to build (modules, functions), built alike on both sides
    forkserver  what both grading servers are built on: their channel, their forked children

Nothing here runs, imports or decodes anything a student wrote into anything but data.
"""
