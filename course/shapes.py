"""The broadcasting rule, step by step, for the explorer widget and the notebooks."""


def parse_shape(text):
    """'2, 3, 1' or '(2,3,1)' -> (2, 3, 1); '()' or '' -> (). Raises ValueError on bad input."""
    cleaned = text.strip()
    if cleaned[:1] in "([" and cleaned[-1:] in ")]":
        cleaned = cleaned[1:-1]
    if not cleaned.strip():
        return ()
    parts = [p.strip() for p in cleaned.split(",")]
    if parts[-1] == "":  # a trailing comma, as in (4,)
        parts.pop()
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"{text!r} is not a shape: write sizes separated by commas, like 2, 3, 1") from None
    if any(s < 0 for s in shape):
        raise ValueError(f"{text!r} has a negative size")
    return shape


def broadcast_steps(a, b):
    """Align `a` and `b` from the last dimension and apply the rule to each pair.

    Returns (result_shape or None, rows), one row per dimension from the left:
    (size in a or None, size in b or None, result size or None, reason).
    """
    ndim = max(len(a), len(b))
    pa = (None,) * (ndim - len(a)) + tuple(a)
    pb = (None,) * (ndim - len(b)) + tuple(b)
    rows, result, ok = [], [], True
    for x, y in zip(pa, pb):
        if x is None or y is None:
            size = y if x is None else x
            rows.append((x, y, size, "missing in one: use the other's size"))
        elif x == y:
            size = x
            rows.append((x, y, size, "equal"))
        elif x == 1 or y == 1:
            size = y if x == 1 else x
            rows.append((x, y, size, "one of them is 1: stretched"))
        else:
            size, ok = None, False
            rows.append((x, y, None, f"{x} vs {y}: not equal and neither is 1, so they cannot broadcast"))
        result.append(size)
    return (tuple(result) if ok else None), rows
