"""The building blocks of every total decoder: a field of the wrong kind is `Malformed`.

Decoders of frames a peer sent (`messages`, the judge's `seen`) read each field with these and
nothing else, so anything a peer can put in a frame either decodes to what it should be or
raises `Malformed`, which costs the sender, never the reader.
"""

from .frames import Malformed


def need(cond, what):
    if not cond:
        raise Malformed(what)


def integer(v, what, lo=-2**63, hi=2**63 - 1):
    need(type(v) is int and lo <= v <= hi, f"{what} is not a valid integer")
    return v


def number(v, what, lo=0.0, hi=1e12):
    need(type(v) in (int, float) and lo <= v <= hi, f"{what} is not a valid number")  # NaN fails too
    return float(v)


def one_of(v, choices, what):
    """`v` if it is one of the strings `choices`."""
    need(type(v) is str and v in choices, what)
    return v


def boolean(v, what):
    need(type(v) is bool, f"{what} is not true or false")
    return v


def string(v, what, limit=100_000):
    need(type(v) is str, f"{what} is not a string")
    need(len(v) <= limit, f"{what} is over {limit} characters")
    return v


def array(v, what, limit=1_000_000):
    need(type(v) is list, f"{what} is not a list")
    need(len(v) <= limit, f"{what} has more than {limit} items")
    return v


def obj(v, what):
    need(type(v) is dict, f"{what} is not an object")
    return v


def strings(v, what, limit=1000, length=2000):
    """A list of strings (each cut to `length`)."""
    return [string(s, what, 1 << 20)[:length] for s in array(v, what, limit)]


def pairs(v, what, limit=100_000):
    for item in array(v, what, limit):
        array(item, f"an entry of {what}", 2)
        need(len(item) == 2, f"an entry of {what}")
        yield item[0], item[1]
