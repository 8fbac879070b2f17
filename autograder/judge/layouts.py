"""The other layouts a tensor input can arrive in, with the same values.

A check written once, with contiguous inputs, is run again for each layout: every plain tensor
input the trial builds (`Trial.tensor`, no explicit view, no autograd state) then arrives
arranged that way in the candidate, with exactly the same values, so the check's references,
mistakes and messages need no change. A layout that does not fit a tensor (a transpose of a 0-d
tensor, an expansion of values that are not repeated) leaves it contiguous; a case none of
whose inputs takes a layout is not run again for it.

    transposed   not contiguous: a transpose of its data (a strided slice for 1-D tensors)
    offset       contiguous, but starting part-way into its storage (storage_offset() > 0)
    expanded     repeated values stored once (stride 0), as x.expand(...) makes them: only for
                 inputs whose values repeat along a dimension; such a tensor cannot be written
                 in place

An exercise whose contract admits solutions that would fail on one of them (writing into its
input in place, say) declares the layouts it uses instead (`layouts=` of `A.exercise`).
"""

import torch

FILL = 12345.0  # storage the view does not show


def transposed(v):
    if v.dim() >= 2:
        return v.transpose(-2, -1).contiguous(), (("transpose", v.dim() - 2, v.dim() - 1),)
    if v.dim() == 1 and v.numel() > 0:
        base = torch.stack([v, torch.full_like(v, FILL)], dim=1).reshape(-1)
        return base, (("slice", 0, None, None, 2),)
    return None


def offset(v):
    if v.dim() == 0:
        return None
    base = torch.cat([torch.full((1, *v.shape[1:]), FILL, dtype=v.dtype), v])
    return base, (("slice", 0, 1, None, None),)


def expanded(v):
    for dim in range(v.dim()):
        if v.shape[dim] > 1:
            first = v.narrow(dim, 0, 1)
            if torch.equal(first.expand_as(v), v):
                return first.contiguous(), (("expand", list(v.shape)),)
    return None


ARRANGE = {"transposed": transposed, "offset": offset, "expanded": expanded}
ALL = tuple(ARRANGE)
WRITABLE = ("transposed", "offset")  # for exercises whose inputs may be written in place

NOTES = {
    "transposed": ("(This time the tensor arguments arrived as views that are not contiguous: a "
                   "transpose of their data, or a slice with a step, with the same values.)"),
    "offset": ("(This time the tensor arguments arrived as views that start part-way into their "
               "storage (a slice: storage_offset() > 0), with the same values.)"),
    "expanded": ("(This time the tensor arguments whose values repeat arrived expanded, as "
                 "x.expand(...) makes them: the repeats share memory (stride 0), so they cannot be "
                 "written in place; same values.)"),
}


def arrange(layout, values):
    """(base, view ops) that show `values` (a contiguous tensor) in `layout`, or None."""
    return ARRANGE[layout](values)
