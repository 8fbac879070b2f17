"""Solution cells for 08_devices: correct alternatives and typical mistakes
(the instructor's own come from the source notebook: `samples.solution_cells`).

TODO: each cell is the complete source of a solution cell, run after the setup cell."""


ALTERNATIVE = {
    "available_devices": "def available_devices(): raise NotImplementedError()  # TODO",
    "best_device": "def best_device(): raise NotImplementedError()  # TODO",
    "module_device": "def module_device(module): raise NotImplementedError()  # TODO",
    "to_numpy": "def to_numpy(t): raise NotImplementedError()  # TODO",
    "move_to": "def move_to(obj, device): raise NotImplementedError()  # TODO",
}


WRONG = {
    "available_devices": "def available_devices(): raise NotImplementedError()  # TODO",
    "best_device": "def best_device(): raise NotImplementedError()  # TODO",
    "module_device": "def module_device(module): raise NotImplementedError()  # TODO",
    "to_numpy": "def to_numpy(t): raise NotImplementedError()  # TODO",
    "move_to": "def move_to(obj, device): raise NotImplementedError()  # TODO",
}


# What the message for each WRONG solution must say (the tests check it).
WRONG_SAYS = {
    "available_devices": "TODO",
    "best_device": "TODO",
    "module_device": "TODO",
    "to_numpy": "TODO",
    "move_to": "TODO",
}
