"""What the multi-task methods share: the method object's interface, the result of a
combination, input checks, and the exact solver on the simplex that MGDA and CAGrad use.

Shape letters: K independent training rows (one per optimizer configuration),
k the rows of one method's group, T tasks, P shared parameters flattened.
Checks look at shapes and dtypes only, never at values, so they cost no
host-device sync.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from mtlviz.methods.spec import MethodContext


@dataclass(frozen=True)
class Combined:
    """A combined update direction on the shared parameters and the task weights it amounts to.

    direction: (K, P), used in place of the summed task gradients.
    weights: (K, T) coefficients c with direction = sum_t c_t g_t, or None where the
    method's direction is no fixed combination of the task gradients.
    """

    direction: torch.Tensor
    weights: torch.Tensor | None


class Method:
    """A method configured for one group of rows (those sharing its spec and options): what the engine calls.

    `MethodSpec.build(options, context)` returns one; the engine hands it the
    slices (k, ...) of its rows and never asks which method it is. It keeps its
    own state (loss history, first losses, random generator) for its rows. Only
    the calls its spec asks for are made: `learned` is given where the spec
    learns weights, `combine` and `learned_gradient` are called where it needs
    per-task gradients.
    """

    # (k, T) fixed weights on the losses, or None where they change. A spec with adapts_weights=False
    # promises them: when every row's spec does, the engine multiplies by them without calling objectives.
    weights: torch.Tensor | None = None
    # The first value of the rows' learned weights (the extra (k, T) parameter), where the spec learns weights.
    learned_start: float = 0.0

    def objectives(self, losses: torch.Tensor, learned: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(terms, shown) for the rows' losses (k, T), once per step.

        terms (k, T): what each row differentiates, one term per task (their sum is the row's objective);
        shown (k, T): the weight on each loss, for display. learned: the rows' learned weights (k, T),
        differentiable, or None where the spec learns none.
        """
        return losses * self.weights, self.weights

    def combine(self, task_grads: torch.Tensor) -> Combined | None:
        """A direction (k, P) to use in place of the summed task gradients (k, T, P) on the shared parameters.

        None keeps the sum. The engine adds back the gradient of the model's own penalty.
        """
        return None

    def learned_gradient(
        self, learned: torch.Tensor, layer_grads: torch.Tensor, losses: torch.Tensor
    ) -> torch.Tensor | None:
        """The gradient (k, T) of the learned weights, in place of autograd's (None keeps autograd's).

        learned: (k, T) detached; layer_grads: (k, T, n) each task's gradient of its term on the
        last shared weight matrix; losses: (k, T) this step's task losses.
        """
        return None

    def after_step(self, learned: torch.Tensor) -> torch.Tensor | None:
        """New values (k, T) of the learned weights after the optimizer step (None keeps them); no autograd."""
        return None


def task_weights(context: MethodContext) -> torch.Tensor:
    """(k, T) each task's weight field, on every row of the group: the weights static rows and combinations use."""
    row = torch.tensor([task.weight for task in context.tasks], device=context.device, dtype=context.dtype)  # (T,)
    return row.expand(context.rows, -1).clone()


def check_matrix(name: str, tensor: torch.Tensor, num_tasks: int | None = None) -> None:
    """A floating (K, T) tensor, with T = num_tasks when given."""
    if not torch.is_tensor(tensor) or tensor.dim() != 2 or not tensor.is_floating_point():
        found = f"shape {tuple(tensor.shape)}, dtype {tensor.dtype}" if torch.is_tensor(tensor) else type(tensor)
        raise ValueError(f"{name}: expected a floating tensor of shape (K, T), found {found}")
    if num_tasks is not None and tensor.shape[1] != num_tasks:
        raise ValueError(
            f"{name}: expected {num_tasks} tasks (shape (K, {num_tasks})), found shape {tuple(tensor.shape)}"
        )


def check_same_shape(name: str, tensor: torch.Tensor, reference: torch.Tensor) -> None:
    check_matrix(name, tensor)
    if tensor.shape != reference.shape:
        raise ValueError(f"{name}: expected shape {tuple(reference.shape)}, found {tuple(tensor.shape)}")


def check_gradients(grads: torch.Tensor) -> None:
    """A floating (K, T, P) tensor of per-task gradients with at least one task."""
    if not torch.is_tensor(grads) or grads.dim() != 3 or not grads.is_floating_point():
        found = f"shape {tuple(grads.shape)}, dtype {grads.dtype}" if torch.is_tensor(grads) else type(grads)
        raise ValueError(f"grads: expected a floating tensor of shape (K, T, P), found {found}")
    if grads.shape[1] < 1:
        raise ValueError(f"grads: expected at least one task, found shape {tuple(grads.shape)}")


def gram_matrix(grads: torch.Tensor) -> torch.Tensor:
    """(K, T, T) inner products g_i . g_j: every solver below works on it, so its cost is independent of P."""
    return grads @ grads.transpose(1, 2)


def combine(weights: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    """(K, P) = sum_t weights[k, t] * grads[k, t]."""
    return (weights[:, None, :] @ grads).squeeze(1)


# The simplex solvers enumerate every support, 2^T - 1 of them: 255 small systems per
# row at T = 8 (the config's limit), about a million at T = 20.
MAX_SOLVER_TASKS = 10


def supports(num_tasks: int, device: torch.device) -> torch.Tensor:
    """(S, T) bool: every non-empty subset of the tasks, S = 2^T - 1, in binary order."""
    codes = torch.arange(1, 2**num_tasks, device=device)  # (S,)
    return ((codes[:, None] >> torch.arange(num_tasks, device=device)) & 1).bool()


def support_solutions(gram: torch.Tensor, linear: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Stationary points on every face of the simplex, from one batched linear solve.

    gram: (K, T, T) M; linear: (K, T) b or None. For each support S (the w_t that may
    be nonzero) the bordered system [[M_S, -1], [1^T, 0]] gives
      point (K, S, T):  w0 with M_S w0 = nu 1, sum w0 = 1, the least w^T M w on that face;
      shift (K, S, T):  w1 with M_S w1 = nu' 1 - b_S, sum w1 = 0 (zeros without b).
    Rows follow supports(T). Solved in float64 whatever the input dtype. Faces whose
    gradients are affinely dependent make the system singular: their solutions come
    back non-finite or meaningless, which is harmless, as callers project every
    candidate onto the simplex and judge it by its true value, and by Caratheodory's
    theorem every point of the hull is also reached from an affinely independent face.
    """
    num_copies, num_tasks, _ = gram.shape
    if num_tasks > MAX_SOLVER_TASKS:
        raise ValueError(f"expected at most {MAX_SOLVER_TASKS} tasks for the simplex solver, found {num_tasks}")
    mask = supports(num_tasks, gram.device).double()  # (S, T)
    size = num_tasks + 1
    system = torch.zeros(num_copies, mask.shape[0], size, size, dtype=torch.float64, device=gram.device)
    system[..., :num_tasks, :num_tasks] = gram.double()[:, None] * (mask[:, :, None] * mask[:, None, :])
    system[..., :num_tasks, :num_tasks] += torch.diag_embed(1 - mask)  # w_t = 0 off the support
    system[..., :num_tasks, num_tasks] = -mask
    system[..., num_tasks, :num_tasks] = mask
    rhs = torch.zeros(num_copies, mask.shape[0], size, 2, dtype=torch.float64, device=gram.device)
    rhs[..., num_tasks, 0] = 1.0
    if linear is not None:
        rhs[..., :num_tasks, 1] = -linear.double()[:, None, :] * mask
    solution = torch.linalg.solve_ex(system, rhs).result  # (K, S, T + 1, 2); no error, no host sync
    return solution[..., :num_tasks, 0], solution[..., :num_tasks, 1]


def best_candidate(candidates: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """(K, T) the candidate (K, S, T) with the least value (K, S); non-finite values never win."""
    values = torch.where(torch.isfinite(values), values, torch.full_like(values, torch.inf))
    pick = values.argmin(1)  # (K,)
    return candidates[torch.arange(candidates.shape[0], device=candidates.device), pick]


def onto_simplex(candidates: torch.Tensor) -> torch.Tensor:
    """Candidates (..., T) clamped at 0 and renormalised: points of the simplex, or non-finite.

    The face solutions that matter are already in the simplex up to rounding; the
    others become some point of it, whose true value is then compared fairly.
    """
    clamped = candidates.clamp_min(0)
    return clamped / clamped.sum(-1, keepdim=True)
