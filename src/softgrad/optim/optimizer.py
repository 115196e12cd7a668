"""``Optimizer``: the base of every optimizer. It holds the Parameters in parameter groups (each with its
learning rate and hyperparameters) and a per-parameter state of ndarrays; ``optimizer(grads)`` (MindSpore) or
``optimizer.step(grads)`` (PyTorch, with the grads passed in) updates every Parameter's array in place.

Gradients come in the order of the Parameters, as ``value_and_grad(fn, None, weights=params)`` returns them.
"""

from __future__ import annotations

import numbers
from typing import Any, Iterable, Sequence

import numpy as np

from softgrad._parallel import axpy
from softgrad._checks import check_integer, check_known_keys, check_real
from softgrad.tensor import Parameter, Tensor, concrete, is_column_major

_SCRATCH_BYTES = 1 << 17  # glibc's default mmap threshold: smaller temporaries come from its free lists
STATE_DICT_KEYS = ("lr", "initial_lr", "step_count", "hyperparameters", "state", "param_groups")
GROUP_KEYS = ("lr", "initial_lr")  # every parameter group holds these and its optimizer's hyperparameters


def parameter_array(param: Parameter) -> np.ndarray:
    """The ndarray a Parameter holds, for in-place updates. Only valid outside transforms."""
    if param._trace:
        raise TypeError(f"Parameter '{param.name}' is being differentiated; update it after value_and_grad "
                        "returns, not inside the function being differentiated")
    array = param._data
    flags = array.flags
    if not flags.writeable or not (flags.c_contiguous or flags.f_contiguous):
        array = param.set_data(np.ascontiguousarray(array).copy())._data
    return array


def state_array(values, like: np.ndarray) -> np.ndarray:
    """A new array of ``values`` with the dtype and the memory layout of the parameter array ``like``. Optimizer
    state always has its parameter's layout, whether made at the first step or restored from a checkpoint: the
    update then takes the same path (BLAS axpy needs equal layouts) and rounds the same way after a resume."""
    return np.array(values, dtype=like.dtype, order="F" if is_column_major(like) else "C")


def decayed_gradient(array: np.ndarray, grad: np.ndarray, group: dict[str, Any]) -> np.ndarray:
    """PyTorch's first lines of an update: g ← −∇ if the group's ``maximize``, then g ← g + λ·p (its L2
    ``weight_decay`` λ). A new array when either applies; ``grad`` itself (the caller's) is never changed."""
    if group.get("maximize"):
        grad = -grad
    if group["weight_decay"]:
        grad = grad + group["weight_decay"] * array
    return grad


def _values(group: dict) -> dict[str, Any]:
    """A parameter group's lr, initial_lr and hyperparameters (everything but its Parameters)."""
    return {key: value for key, value in group.items() if key != "params"}


class Optimizer:
    """Base class: subclasses define ``update(array, grad, state, group)``, which changes ``array`` in place with
    the values of the parameter's group (``group['lr']``, ``group['momentum']``, …) and keeps whatever it needs in
    the dict ``state`` (ndarrays only, so ``state_dict`` can store it); ``check_hyperparameters(owner, **values)``,
    which checks the constructor arguments named in ``hyperparameters`` (besides ``lr``) and returns them converted
    (the constructor, every parameter group and ``load_state_dict`` go through it); and ``state_names(group)``,
    the arrays a stepped parameter's state holds with that group's values.

    Parameter groups, in the form both frameworks take: ``params`` is a list of Parameters, or a list of dicts
    ``{'params': [...], 'lr': ..., 'weight_decay': ..., <any other hyperparameter>: ...}``, each group taking the
    constructor's values for the keys it leaves out; MindSpore's ``{'order_params': [...]}`` entry sets the order
    of ``optimizer.parameters``, which is the order of the gradients. ``optimizer.param_groups`` holds them as
    PyTorch does: each group's ``params``, ``lr``, ``initial_lr`` (the base of learning-rate schedules) and every
    hyperparameter. ``optimizer.lr`` (``.initial_lr``, ``.momentum``, …) reads the value all groups share (an
    AttributeError says to read ``param_groups`` when they differ) and assigning it sets it, checked, in every group.
    """

    hyperparameters: tuple[str, ...] = ()
    squared_states: tuple[str, ...] = ()  # running sums or averages of g², never negative (load_state_dict checks)
    lr_name = "lr"  # the constructor's name for it (MindSpore's Momentum says learning_rate)

    def __init__(self, params, lr: float, **hyperparameters):
        owner = type(self).__name__
        self.defaults = dict(lr=check_real(owner, self.lr_name, lr), **self.check_hyperparameters(owner,
                                                                                                  **hyperparameters))
        self.parameters, self.param_groups = self._build_groups(owner, params)
        group_of = {id(p): i for i, group in enumerate(self.param_groups) for p in group["params"]}
        self._group_index = [group_of[id(p)] for p in self.parameters]
        self.step_count = 0
        self.state: list[dict[str, np.ndarray]] = [{} for _ in self.parameters]
        self._scratch: dict[tuple, np.ndarray] = {}  # see add_scaled

    def check_hyperparameters(self, owner: str, **values) -> dict[str, Any]:
        """The ``hyperparameters`` checked and converted (ValueError/TypeError naming ``owner`` and the bad one)."""
        return values

    def state_names(self, group: dict[str, Any]) -> tuple[str, ...]:
        """The arrays a parameter's state holds after a step with the values of ``group``."""
        return ()

    # ----- parameter groups -----

    def _build_groups(self, owner: str, params) -> tuple[list[Parameter], list[dict[str, Any]]]:
        """(every Parameter in gradient order, the parameter groups), from a list of Parameters or of group dicts."""
        if isinstance(params, (Tensor, np.ndarray, dict)) or not isinstance(params, Iterable):
            fix = "[group]" if isinstance(params, dict) else "model.trainable_params() or [param]"
            raise TypeError(f"{owner}: params must be a list of Parameters or of parameter-group dicts, got one "
                            f"{type(params).__name__}; pass {fix}")
        items = list(params)
        if not items or not all(isinstance(item, dict) for item in items):
            parameters = self._parameter_list(owner, items)
            return parameters, [dict(params=parameters, **self._group_values(owner, self.defaults, {}))]
        groups, order = [], None
        for i, spec in enumerate(items):
            where = f"{owner} params[{i}]"
            if "order_params" in spec:
                if len(spec) != 1 or order is not None:
                    raise ValueError(f"{where}: MindSpore's {{'order_params': [...]}} is a dict of its own, given "
                                     f"once; got the keys {sorted(spec, key=str)}")
                order = self._parameter_list(f"{where}['order_params']", spec["order_params"])
                continue
            known = ("params", "lr") + self.hyperparameters
            unknown = sorted(set(spec) - set(known), key=str)
            if unknown or "params" not in spec:
                note = " (MindSpore's grad_centralization is not implemented)" if "grad_centralization" in spec else ""
                raise ValueError(f"{where}: a parameter group of {owner} is a dict with 'params' and any of "
                                 f"{list(known[1:])}, got the keys {sorted(spec, key=str)}{note}")
            overrides = {key: value for key, value in spec.items() if key != "params"}
            groups.append(dict(params=self._parameter_list(f"{where}['params']", spec["params"]),
                               **self._group_values(where, self.defaults, overrides)))
        return self._ordered(owner, [p for group in groups for p in group["params"]], order), groups

    @staticmethod
    def _parameter_list(where: str, params) -> list[Parameter]:
        if isinstance(params, Parameter):
            return [params]  # a group's single Parameter, as PyTorch allows
        if isinstance(params, (Tensor, np.ndarray, str, bytes, dict)) or not isinstance(params, Iterable):
            raise TypeError(f"{where}: expected a list of Parameters, got {type(params).__name__} {params!r:.80}; "
                            "pass model.trainable_params()")
        params = list(params)
        if not params:
            raise ValueError(f"{where}: got no parameters to optimise; pass model.trainable_params()")
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError(f"{where}: expected Parameters, got {type(p).__name__}; pass model.trainable_params()")
        return params

    @staticmethod
    def _ordered(owner: str, parameters: list[Parameter], order: list[Parameter] | None) -> list[Parameter]:
        """``parameters`` (every group's, in turn) after checking none repeats; in ``order`` if given."""
        seen: dict[int, Parameter] = {}
        for p in parameters:
            if id(p) in seen:
                raise ValueError(f"{owner}: Parameter '{p.name}' is given twice; each Parameter belongs to one "
                                 "parameter group, once")
            seen[id(p)] = p
        if order is None:
            return parameters
        if len(order) != len(parameters) or {id(p) for p in order} != set(seen):
            raise ValueError(f"{owner}: order_params must hold each of the groups' {len(parameters)} Parameters "
                             f"once, got {len(order)}: {[p.name for p in order]}")
        return order

    def _group_values(self, owner: str, base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
        """A group's lr, initial_lr (lr's if neither gives one) and hyperparameters: ``base`` updated by
        ``overrides``, all checked as the constructor checks them."""
        merged = dict(base, **overrides)
        lr = check_real(owner, "lr", merged.pop("lr"))
        return {"lr": lr, "initial_lr": check_real(owner, "initial_lr", merged.pop("initial_lr", lr)),
                **self.check_hyperparameters(owner, **merged)}

    def __getattr__(self, name: str):
        """Only reached when ordinary lookup fails: a group value (lr, initial_lr, a hyperparameter) that every
        group shares."""
        groups = self.__dict__.get("param_groups")
        if groups and (name in GROUP_KEYS or name in type(self).hyperparameters):
            values = [group[name] for group in groups]
            if all(value == values[0] for value in values):
                return values[0]
            raise AttributeError(f"{type(self).__name__}: {name} differs between its {len(groups)} parameter "
                                 f"groups ({values}); read optimizer.param_groups[i][{name!r}]")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value) -> None:
        if name in GROUP_KEYS or name in type(self).hyperparameters:
            owner = type(self).__name__
            checked = [self._group_values(owner, _values(group), {name: value}) for group in self.param_groups]
            for group, values in zip(self.param_groups, checked):
                group.update(values)
        else:
            super().__setattr__(name, value)

    # ----- stepping -----

    def __call__(self, grads: Sequence | None = None) -> None:
        self.step(grads)

    def step(self, grads: Sequence | None = None) -> None:
        """Apply one update with ``grads`` (Tensors or ndarrays, one per Parameter, in order). Every gradient is
        checked before any Parameter changes."""
        arrays = [parameter_array(param) for param in self.parameters]
        grads = self._checked_gradients(grads, arrays)
        self.step_count += 1
        update, groups = self.update, self.param_groups
        for array, g, state, index in zip(arrays, grads, self.state, self._group_index):
            update(array, g, state, groups[index])

    def _checked_gradients(self, grads, arrays: list[np.ndarray]) -> list[np.ndarray]:
        name, count = type(self).__name__, len(self.parameters)
        how = "value_and_grad(fn, None, weights=optimizer.parameters) returns them"
        if grads is None:
            raise TypeError(f"{name}.step() needs the gradients (Parameters hold no .grad in softgrad): call "
                            f"optimizer(grads) or optimizer.step(grads), with grads as {how}")
        if isinstance(grads, (Tensor, np.ndarray)):
            if count != 1:
                raise TypeError(f"{name}: got one {type(grads).__name__} of shape {grads.shape} as grads for "
                                f"{count} parameters; pass a tuple of {count} gradients, one per Parameter, as {how}")
            grads = [grads]
        elif isinstance(grads, (str, bytes, dict)) or not isinstance(grads, Iterable):
            raise TypeError(f"{name}: grads must be a tuple or list of gradients, one per Parameter, as {how}; got "
                            f"{type(grads).__name__} {grads!r:.80}")
        grads = list(grads)
        if len(grads) != count:
            raise ValueError(f"{name}: got {len(grads)} gradient(s) for {count} parameter(s); pass the gradients "
                             f"as {how}")
        checked = []
        for param, array, grad in zip(self.parameters, arrays, grads):
            g = concrete(grad)
            if not isinstance(g, np.ndarray):
                g = np.asarray(g) if isinstance(g, (np.generic, numbers.Number, list, tuple)) else None
            if g is None or g.dtype.kind not in "biuf":
                raise TypeError(f"{name}: the gradient of '{param.name}' must be a Tensor or ndarray of numbers, "
                                f"got {type(grad).__name__} {grad!r:.80}; pass the gradients as {how}")
            if g.shape != array.shape:
                raise ValueError(f"{name}: the gradient of '{param.name}' has shape {g.shape}, expected "
                                 f"{array.shape}")
            checked.append(g)
        return checked

    def update(self, array: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray],
               group: dict[str, Any]) -> None:
        raise NotImplementedError

    def add_scaled(self, array: np.ndarray, factor: float, x: np.ndarray) -> None:
        """array += factor·x, in place. A large array is updated in one pass by BLAS axpy where NumPy's OpenBLAS
        is reachable (softgrad._parallel.axpy), else through a scratch array reused from step to step: glibc's malloc
        would map a large temporary afresh and page-fault it in every step."""
        if array.nbytes < _SCRATCH_BYTES:
            array += factor * x
        elif not axpy(factor, x, array):
            key = (array.shape, array.strides, array.dtype)
            scratch = self._scratch.get(key)
            if scratch is None:
                scratch = self._scratch[key] = np.empty_like(array)
            array += np.multiply(x, factor, out=scratch)

    # ----- saving and restoring -----

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly (arrays are copies): with one parameter group ``{'lr',
        'initial_lr', 'step_count', 'hyperparameters', 'state': [{name: ndarray}, ...]}``; with several,
        ``{'step_count', 'param_groups', 'state'}``, each group ``{'params': [its indices in parameters], 'lr',
        'initial_lr', <each hyperparameter>}``. ``state`` follows ``parameters``."""
        state = [{name: array.copy() for name, array in s.items()} for s in self.state]
        if len(self.param_groups) == 1:
            values = _values(self.param_groups[0])
            return {"lr": values["lr"], "initial_lr": values["initial_lr"], "step_count": self.step_count,
                    "hyperparameters": {name: values[name] for name in self.hyperparameters}, "state": state}
        indices = [[] for _ in self.param_groups]
        for position, index in enumerate(self._group_index):
            indices[index].append(position)
        return {"step_count": self.step_count,
                "param_groups": [dict(params=held, **_values(group))
                                 for held, group in zip(indices, self.param_groups)],
                "state": state}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore ``state_dict()``'s output, checked as the constructor checks its arguments: only known keys,
        the same parameter groups, finite hyperparameters in range, state arrays of the right names, shapes and
        finite values (each restored in its parameter's dtype and memory layout). Nothing changes unless all of it
        is valid."""
        owner = f"{type(self).__name__}.load_state_dict"
        check_known_keys(owner, "state_dict", state_dict, STATE_DICT_KEYS)
        grouped = "param_groups" in state_dict
        missing = [key for key in ("param_groups" if grouped else "lr", "step_count", "state") if key not in state_dict]
        if missing:
            raise ValueError(f"{owner}: the state_dict lacks {missing}; pass what optimizer.state_dict() returned")
        if grouped:
            saved_groups = self._saved_groups(owner, state_dict)
        else:
            saved_groups = [self._saved_single_group(owner, state_dict)]
        groups = [self._checked_group(f"{owner} param_groups[{i}]" if grouped else owner, i, saved, group)
                  for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups))]
        step_count = check_integer(owner, "step_count", state_dict["step_count"], 0)
        names = [self.state_names(groups[index]) for index in self._group_index]
        states = self._checked_states(owner, state_dict["state"], names)
        for group, values in zip(self.param_groups, groups):
            group.update(values)
        self.step_count, self.state = step_count, states

    def _saved_single_group(self, owner: str, state_dict: dict[str, Any]) -> dict[str, Any]:
        if len(self.param_groups) != 1:
            raise ValueError(f"{owner}: the state_dict holds one parameter group (it has no 'param_groups'), this "
                             f"optimizer has {len(self.param_groups)}; pass what its state_dict() returned")
        saved = state_dict.get("hyperparameters", {})
        check_known_keys(owner, "hyperparameters", saved, self.hyperparameters)
        return dict(saved, lr=state_dict["lr"], initial_lr=state_dict.get("initial_lr", state_dict["lr"]))

    def _saved_groups(self, owner: str, state_dict: dict[str, Any]) -> list:
        beside = [key for key in ("lr", "initial_lr", "hyperparameters") if key in state_dict]
        if beside:
            raise ValueError(f"{owner}: a state_dict with 'param_groups' keeps lr and the hyperparameters in its "
                             f"groups; it also has {beside}")
        saved = state_dict["param_groups"]
        if not isinstance(saved, (list, tuple)) or len(saved) != len(self.param_groups):
            count = len(saved) if isinstance(saved, (list, tuple)) else f"{type(saved).__name__} {saved!r:.80} as"
            raise ValueError(f"{owner}: the state_dict has {count} parameter group(s), this optimizer has "
                             f"{len(self.param_groups)}")
        return list(saved)

    def _checked_group(self, where: str, index: int, saved, group: dict[str, Any]) -> dict[str, Any]:
        check_known_keys(where, "parameter group", saved, ("params",) + GROUP_KEYS + self.hyperparameters)
        if "params" in saved:
            held = [position for position, i in enumerate(self._group_index) if i == index]
            if not isinstance(saved["params"], (list, tuple)) or list(saved["params"]) != held:
                raise ValueError(f"{where}: the group holds the parameters {saved['params']!r:.80}, this optimizer's "
                                 f"group {index} holds {held} (their indices in optimizer.parameters)")
        overrides = {key: value for key, value in saved.items() if key != "params"}
        if "lr" not in overrides:
            raise ValueError(f"{where}: the parameter group lacks 'lr'; pass what optimizer.state_dict() returned")
        overrides.setdefault("initial_lr", overrides["lr"])
        return self._group_values(where, _values(group), overrides)

    def _checked_states(self, owner: str, states, names: list[tuple[str, ...]]) -> list[dict[str, np.ndarray]]:
        if not isinstance(states, (list, tuple)) or len(states) != len(self.parameters):
            count = len(states) if isinstance(states, (list, tuple)) else type(states).__name__
            raise ValueError(f"{owner}: the saved state has {count} parameter(s), this optimizer has "
                             f"{len(self.parameters)}")
        restored = []
        for param, state, expected in zip(self.parameters, states, names):
            if not isinstance(state, dict) or (state and sorted(state) != sorted(expected)):
                got = sorted(state) if isinstance(state, dict) else repr(state)
                raise ValueError(f"{owner}: the state of '{param.name}' must be empty (before its first step) or "
                                 f"hold exactly {list(expected)}, got {got}")
            arrays = {}
            for name, values in state.items():
                array = np.asarray(values)
                if array.shape != param.shape or array.dtype.kind not in "biuf":
                    raise ValueError(f"{owner}: state '{name}' of '{param.name}' must be numbers of shape "
                                     f"{param.shape}, got dtype {array.dtype} and shape {array.shape}")
                if not np.isfinite(array).all():
                    raise ValueError(f"{owner}: state '{name}' of '{param.name}' holds non-finite values "
                                     f"({array[~np.isfinite(array)].flat[0]!r} first); the checkpoint is damaged "
                                     "or comes from a run that diverged")
                if name in self.squared_states and (array < 0).any():
                    raise ValueError(f"{owner}: state '{name}' of '{param.name}' holds negative values "
                                     f"({float(array[array < 0].flat[0])!r} first), but it accumulates squared "
                                     "gradients, so it is never negative (√ of it would be NaN); the checkpoint is "
                                     "damaged")
                arrays[name] = state_array(array, param._data)
            restored.append(arrays)
        return restored


__all__ = ["parameter_array", "state_array", "decayed_gradient", "Optimizer"]
