"""Units: a model is estimated on centred and scaled data, and the answer mapped back.

Estimates, standard errors and z-values must not depend on the units of the
variables (a year, an income, a score times 1000). Fitted in the data's own
units they would: a covariate near 5000 makes an intercept and a slope
nearly collinear (the information matrix has a condition number near
5000^2), and variables in units 1e6 apart make the optimiser's steps and
tolerances meaningless. So every fit (:func:`msem_nb.estimation.estimate.estimate`)
runs on ``y' = (y - a) / d``, variable by variable, and maps back.

Locations and scales
--------------------
Each data variable gets a location ``a_v`` (its mean) and a scale ``d_v``
(the power of two nearest its standard deviation: scaling by it is exact in
floating point). Each latent variable gets a scale from its marker: the
indicator's scale over the fixed loading (1 when it has none, as with a
fixed variance).

The map between the two parameterisations
-----------------------------------------
Per block, writing all its variables as ``v = a + D v'`` (``a`` the
variables' locations in that block, ``D`` = diag of their scales), the RAM
model ``v = alpha + A v + e`` (:mod:`msem_nb.model.spec`) becomes
``v' = alpha' + A' v' + e'`` with

    A = D A' D^-1,    S = D S' D,    alpha = D alpha' + (I - A) a.

So a free loading, path or (co)variance is its transformed value times a
constant ``factor`` (``d_r / d_c`` for a cell (r, c) of A, ``d_r d_c`` of S),
and an intercept is ``d_r alpha'_r + o_r`` with the offset ``o = (I - A) a``.
Fixed values are transformed the same way (fixed covariate moments are
recomputed from the transformed data instead).

The block locations ``a`` (one per variable per block: ``n`` nodes) solve a
linear system ``M(A) a = r`` of ``n`` equations:

* a data variable's locations over the blocks it is in sum to ``a_v`` (the
  data fix the observed means: ``sum_b a_b[v] = a_v``);
* a variable whose intercept is fixed in a block (a latent variable; a
  within-level intercept of a variable with a between part) keeps it:
  ``((I - A) a)_r = 0`` there, so its transformed intercept is the fixed
  value over its scale.

Free intercepts and intercepts of fixed covariates have no equation: they
absorb the locations. The system is square when every data variable has one
such intercept; a latent variable regressed on a shifted covariate then
moves with it (``a_f = b a_x``), which is what keeps the slope and the
intercepts apart. The map ``theta = g(xi)`` is ``factor * xi`` plus the
offsets on the intercepts; the offsets depend on the paths (through ``A``
and ``a``), so ``g`` is not linear and the covariance matrix is mapped by
its Jacobian, ``vcov = J vcov' J'`` (delta method), computed in closed
form:

    d o / d A_qs = -a_s e_q + a_s (N M^-1)[:, row(q)]   (the second term if q has
                                                         a fixed intercept)

with ``N`` = blockdiag(I - A_b). The log-likelihood changes by the Jacobian
of the data transformation, ``sum_v n_v log d_v`` for ``n_v`` observed values
of variable ``v`` (rows, or clusters for a between-only variable; for three
levels rows, classes or schools, ``ThreeLevelData.value_counts``).

When the parameter table does not allow this (a free parameter shared by
cells with different factors, through labels), the variables involved get a
common scale (or 1); when locations cannot be absorbed (an intercept shared
by labels or in an ``==`` constraint, a user-fixed observed intercept, a
model without a mean structure), the data are scaled but not shifted.
Random-slope models are not transformed. Three-level models are, block by
block like two-level ones: a variable's locations over its level-1, level-2
and level-3 blocks sum to its mean, and the lower levels' fixed intercepts
stay fixed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from msem_nb.data.complete import ClusterData, SingleData
from msem_nb.data.groups import MultiGroupData
from msem_nb.data.threelevel import ThreeLevelData
from msem_nb.estimation.saturated import Saturated
from msem_nb.estimation.saturated_threelevel import ThreeLevelSaturated
from msem_nb.model.partable import ParTable
from msem_nb.model.spec import BlockSpec, ModelSpec

__all__ = ["Units", "choose_units", "with_fixed"]

#: a table row's matrix cell: (block, "A" | "S" | "alpha", row, column)
Cell = tuple[int, str, int, int]


def _pow2(x: np.ndarray) -> np.ndarray:
    """Exponents of the powers of two nearest positive finite `x` (0 elsewhere)."""
    x = np.asarray(x, dtype=float)
    ok = np.isfinite(x) & (x > 0)
    out = np.zeros(x.shape, dtype=int)
    out[ok] = np.round(np.log2(x[ok])).astype(int)
    return out


def _data_moments(data: SingleData | ClusterData | ThreeLevelData | MultiGroupData
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of every data variable (available cases; several
    groups: pooled, each group's moments weighted by its number of values)."""
    if isinstance(data, ThreeLevelData):
        # over each variable's own values: the rows, the classes or the schools
        return data.value_moments()
    if isinstance(data, MultiGroupData):
        n = np.array([d.value_counts() for d in data.parts])
        parts = [_data_moments(d) for d in data.parts]
        m = np.array([p[0] for p in parts])
        v = np.array([p[1] ** 2 for p in parts])
        mean = (n * m).sum(axis=0) / n.sum(axis=0)
        var = (n * (v + (m - mean) ** 2)).sum(axis=0) / n.sum(axis=0)
        return mean, np.sqrt(var)
    if isinstance(data, ClusterData) and not data.incomplete:
        # from the cluster means: the total SSCP is the within one plus the
        # clusters' n_j (ybar_j - ybar)(ybar_j - ybar)'
        pw = data.p_within
        x = data.cluster_vectors
        n = data.cluster_sizes.astype(float)
        mw = n @ x[:, :pw] / data.nobs
        vw = (np.diag(data.within_sscp) + n @ (x[:, :pw] - mw) ** 2) / data.nobs
        z = x[:, pw:]
        return (np.concatenate([mw, z.mean(axis=0)]),
                np.sqrt(np.concatenate([vw, z.var(axis=0)])))
    if isinstance(data, ClusterData):
        pw = data.p_within
        z = data.cluster_vectors[:, pw:]
        if data.rows is not None:
            y = data.rows
            mw, vw = np.nanmean(y, axis=0), np.nanvar(y, axis=0)
        else:
            mw = np.nanmean(data.cluster_vectors[:, :pw], axis=0)
            vw = np.diag(data.within_sscp) / data.nobs
        mean = np.concatenate([mw, np.nanmean(z, axis=0)])
        var = np.concatenate([vw, np.nanvar(z, axis=0)])
    else:
        mean, var = np.asarray(data.mean, dtype=float), np.diag(data.cov)
    return mean, np.sqrt(np.abs(var))


def _free_cells(spec: ModelSpec) -> list[list[Cell]]:
    """Per free parameter, every matrix cell it fills (S cells once, r >= c)."""
    out: list[list[Cell]] = [[] for _ in range(spec.npar)]
    for b, bs in enumerate(spec.blocks):
        for r, c, k in zip(*bs.A_free):
            out[k].append((b, "A", int(r), int(c)))
        for r, c, k in zip(*bs.S_free):
            if r >= c:
                out[k].append((b, "S", int(r), int(c)))
        for r, k in zip(*bs.alpha_free):
            out[k].append((b, "alpha", int(r), 0))
    return out


def _cell_exponent(cell: Cell, e: Sequence[np.ndarray]) -> int:
    b, mat, r, c = cell
    if mat == "A":
        return int(e[b][r] - e[b][c])
    if mat == "S":
        return int(e[b][r] + e[b][c])
    return int(e[b][r])


def _latent_exponents(pt: ParTable, spec: ModelSpec, e: list[np.ndarray]) -> None:
    """Scale exponents of latent variables from their markers, in place.

    A latent variable with a fixed non-zero loading on an indicator takes the
    indicator's scale over that loading (second-order factors after their
    indicators); the others keep 0 (scale 1).
    """
    rec = pt.records
    marker: dict[tuple[int, int], tuple[int, float]] = {}
    for r in rec:
        if r["op"] != "=~" or int(r["free"]) > 0:
            continue
        u = r["ustart"]
        if u is None or not np.isfinite(u) or u == 0:
            continue
        b = int(r["block"])
        names = spec.blocks[b].names
        key = (b, names.index(r["lhs"]))
        if key not in marker and r["rhs"] in names:
            marker[key] = (names.index(r["rhs"]), abs(float(u)))
    for _ in range(len(marker) + 1):
        changed = False
        for (b, f), (ind, lam) in marker.items():
            new = int(e[b][ind] - _pow2(np.array([lam]))[0])
            if e[b][f] != new:
                e[b][f] = new
                changed = True
        if not changed:
            break


@dataclass(frozen=True, eq=False)
class Units:
    """Locations and scales of a fit, and the map between the two parameterisations.

    ``theta`` (the caller's units) and ``xi`` (the centred and scaled data's)
    are free parameter vectors of the same table; see the module docstring.
    """

    loc: np.ndarray                     # per data variable; zeros when not located
    scale: np.ndarray                   # per data variable (powers of two)
    block_scale: tuple[np.ndarray, ...]  # per block: its variables' scales
    factor: np.ndarray                  # per free parameter: d theta / d xi at fixed offsets
    located: bool
    # the location system M(A) a = rhs over the nodes (block, variable)
    node_offset: np.ndarray             # first node of each block
    system: np.ndarray                  # M with the fixed-intercept rows set to identity rows
    rhs: np.ndarray
    fixed_rows: np.ndarray              # rows of M holding ((I - A) a)_q = 0 ...
    fixed_nodes: np.ndarray             # ... for these nodes q
    alpha_par: np.ndarray               # free intercepts: parameter index ...
    alpha_node: np.ndarray              # ... and its node
    _last: dict = field(default_factory=dict, repr=False)

    # -- the offsets of the intercepts ------------------------------------------
    def _paths(self, spec_t: ModelSpec, xi: np.ndarray) -> list[np.ndarray]:
        """A of every block in the caller's units, from the transformed free parameters."""
        out = []
        for bs, d in zip(spec_t.blocks, self.block_scale):
            A = bs.A0.copy()
            r, c, k = bs.A_free
            A[r, c] = xi[k]
            out.append(A * (d[:, None] / d[None, :]))
        return out

    def _solution(self, spec_t: ModelSpec, xi: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`_solve` at `xi`, kept for the last `xi` (the map, its Jacobian and the
        fixed values are wanted at the same point)."""
        key = (id(spec_t), np.asarray(xi, dtype=float).tobytes())
        if self._last.get("key") != key:
            self._last["key"] = key
            self._last["value"] = self._solve(self._paths(spec_t, xi))
        return self._last["value"]

    def _solve(self, paths: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(node locations a, N = blockdiag(I - A), M) for the paths A."""
        n = len(self.rhs)
        N = np.eye(n)
        for o, A in zip(self.node_offset, paths):
            k = len(A)
            N[o:o + k, o:o + k] -= A
        M = self.system.copy()
        if len(self.fixed_rows):
            M[self.fixed_rows] = N[self.fixed_nodes]
        return np.linalg.solve(M, self.rhs), N, M

    def offsets(self, spec_t: ModelSpec, xi: np.ndarray) -> np.ndarray:
        """``o = (I - A) a`` at every node (zero when not located)."""
        if not self.located:
            return np.zeros(len(self.rhs))
        a, N, _ = self._solution(spec_t, xi)
        return N @ a

    # -- the map and its inverse ------------------------------------------------
    def to_theta(self, spec_t: ModelSpec, xi: np.ndarray) -> np.ndarray:
        """Free parameters in the caller's units from the transformed ones."""
        theta = self.factor * np.asarray(xi, dtype=float)
        if self.located and len(self.alpha_par):
            theta[self.alpha_par] += self.offsets(spec_t, xi)[self.alpha_node]
        return theta

    def to_xi(self, spec_t: ModelSpec, theta: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`to_theta` (the offsets depend on paths only)."""
        theta = np.asarray(theta, dtype=float)
        xi = theta / self.factor
        if self.located and len(self.alpha_par):
            o = self.offsets(spec_t, xi)
            xi[self.alpha_par] = (theta[self.alpha_par] - o[self.alpha_node]) \
                / self.factor[self.alpha_par]
        return xi

    def jacobian(self, spec_t: ModelSpec, xi: np.ndarray) -> np.ndarray:
        """``d theta / d xi`` at `xi`, in closed form (module docstring)."""
        J = np.diag(self.factor)
        if not (self.located and len(self.alpha_par)):
            return J
        a, N, M = self._solution(spec_t, xi)
        n = len(a)
        W = N @ np.linalg.inv(M)
        row_of = np.full(n, -1)
        row_of[self.fixed_nodes] = self.fixed_rows
        for b, (bs, d) in enumerate(zip(spec_t.blocks, self.block_scale)):
            r, c, k = bs.A_free
            if not len(k):
                continue
            o = self.node_offset[b]
            q, s = o + r, o + c
            coef = d[r] / d[c] * a[s]
            dO = np.zeros((n, len(k)))
            dO[q, np.arange(len(k))] = -coef
            fixed = row_of[q] >= 0
            dO[:, fixed] += W[:, row_of[q[fixed]]] * coef[fixed]
            # the cells of one parameter add up in its column
            G = np.zeros((len(self.factor), len(self.alpha_par)))
            if len(set(k.tolist())) == len(k):
                G[k] = dO[self.alpha_node].T     # one cell per parameter: no sums
            else:
                np.add.at(G, k, dO[self.alpha_node].T)
            J[self.alpha_par] += G.T
        return J

    # -- specifications --------------------------------------------------------------
    def transform_spec(self, spec0: ModelSpec, exo_values: Mapping[int, float]) -> ModelSpec:
        """The transformed model: `spec0` (a spec without fixed covariate values) with
        its fixed values rescaled and the fixed covariates' moments ``exo_values``
        (from the transformed data)."""
        blocks = []
        for bs, d in zip(spec0.blocks, self.block_scale):
            blocks.append(dataclasses.replace(
                bs, A0=bs.A0 * (d[None, :] / d[:, None]), S0=bs.S0 / np.outer(d, d),
                alpha0=bs.alpha0 / d))
        return with_fixed(dataclasses.replace(spec0, blocks=tuple(blocks)), exo_values)

    def original_values(self, spec_t: ModelSpec, xi: np.ndarray,
                        rows: Mapping[int, float]) -> dict[int, float]:
        """Fixed covariate values `rows` (table row -> transformed value) in the caller's units."""
        o = self.offsets(spec_t, xi)
        out = {}
        for i, v in rows.items():
            cell = spec_t.cells[i]
            if cell is None:
                continue
            b, mat, r, c = cell
            d = self.block_scale[b]
            if mat == "S":
                out[i] = float(v * d[r] * d[c])
            elif mat == "alpha":
                out[i] = float(v * d[r] + o[self.node_offset[b] + r])
            else:
                out[i] = float(v * d[r] / d[c])
        return out

    # -- log-likelihoods and saturated models -------------------------------------
    def log_jacobian(self, counts: np.ndarray, names: Sequence[str] | None = None,
                     data_names: Sequence[str] = ()) -> float:
        """``sum_v n_v log d_v``: what a log-likelihood loses in the transformed units.

        `counts` per data variable, or per name of `names` (a subset of `data_names`).
        """
        logd = np.log(self.scale)
        if names is not None:
            logd = logd[[list(data_names).index(v) for v in names]]
        return float(np.dot(counts, logd))

    def saturated(self, sat: Saturated | None, data_names: Sequence[str],
                  counts: np.ndarray) -> Saturated | None:
        """A saturated model fitted to the transformed data, in the caller's units."""
        if sat is None:
            return None
        idx = [list(data_names).index(v) for v in sat.names]
        d, a = self.scale[idx], self.loc[idx]
        if isinstance(sat, ThreeLevelSaturated):
            # y = a + d y' is y' = (y - (-a / d)) / (1 / d)
            return sat.affine(-a / d, 1.0 / d, counts)
        pw = len(sat.sigma_w)
        sb = None if sat.sigma_b is None else sat.sigma_b * np.outer(d, d)
        return Saturated(sat.names, np.asarray(sat.mu) * d + a,
                         sat.sigma_w * np.outer(d[:pw], d[:pw]), sb,
                         sat.loglik - float(np.dot(counts, np.log(d))), sat.converged)

    def constraints(self, lin: tuple[np.ndarray, np.ndarray] | None
                    ) -> tuple[np.ndarray, np.ndarray] | None:
        """``C theta = c`` in the transformed parameters (linear: no intercept is shifted
        in a constrained model, :func:`choose_units`)."""
        if lin is None:
            return None
        C, c = lin
        return C * self.factor[None, :], c


def with_fixed(spec: ModelSpec, values: Mapping[int, float]) -> ModelSpec:
    """`spec` with the fixed table rows `values` (row -> value) set in its templates."""
    if not values:
        return spec
    mats: dict[int, dict[str, np.ndarray]] = {}
    for i, v in values.items():
        cell = spec.cells[i]
        if cell is None:
            continue
        b, mat, r, c = cell
        bs = spec.blocks[b]
        m = mats.setdefault(b, {"A0": bs.A0.copy(), "S0": bs.S0.copy(),
                                "alpha0": bs.alpha0.copy()})
        if mat == "A":
            m["A0"][r, c] = v
        elif mat == "S":
            m["S0"][r, c] = m["S0"][c, r] = v
        else:
            m["alpha0"][r] = v
    blocks: list[BlockSpec] = [
        dataclasses.replace(bs, A0=mats[b]["A0"], S0=mats[b]["S0"], alpha0=mats[b]["alpha0"])
        if b in mats else bs for b, bs in enumerate(spec.blocks)]
    return dataclasses.replace(spec, blocks=tuple(blocks))


def _scale_exponents(pt: ParTable, spec: ModelSpec, data_names: Sequence[str],
                     sd: np.ndarray, cells: list[list[Cell]]
                     ) -> tuple[np.ndarray, list[np.ndarray]]:
    """Scale exponents per data variable and per block variable, made consistent
    with the free parameters' `cells` (every cell of a parameter with one factor)."""
    e_data = _pow2(sd)
    pos = {v: j for j, v in enumerate(data_names)}
    # nodes: a data variable is one node in every block; a latent variable one per block
    node_of: list[list[object]] = []
    e_node: dict[object, int] = {}
    e_block = []
    for b, bs in enumerate(spec.blocks):
        keys: list[object] = [("ov", v) if v in pos else ("lv", b, v) for v in bs.names]
        node_of.append(keys)
        e_block.append(np.array([e_data[pos[v]] if v in pos else 0 for v in bs.names]))
    _latent_exponents(pt, spec, e_block)
    for b, keys in enumerate(node_of):
        for key, e in zip(keys, e_block[b]):
            e_node.setdefault(key, int(e))
    parent = {k: k for k in e_node}

    def root(k: object) -> object:
        while parent[k] != k:
            k = parent[k]
        return k

    zero: set[object] = set()
    base = dict(e_node)
    # each round merges classes or sets one to scale 1, so this ends
    for _ in range(2 * len(e_node) + 2):
        cur = {k: (0 if root(k) in zero else e_node[root(k)]) for k in e_node}
        e_block = [np.array([cur[k] for k in keys]) for keys in node_of]
        bad = [k for k in range(spec.npar)
               if len({_cell_exponent(c, e_block) for c in cells[k]}) > 1]
        if not bad:
            break
        for k in bad:
            touched = {root(node_of[b][i]) for b, mat, r, c in cells[k]
                       for i in ((r,) if mat == "alpha" else (r, c))}
            if len(touched) == 1:
                zero |= touched
                continue
            members = [m for m in e_node if root(m) in touched]
            top = touched.pop()
            for t in touched:
                parent[t] = top
            e_node[top] = int(np.round(np.mean([base[m] for m in members])))
    else:
        cur = {k: 0 for k in e_node}
        e_block = [np.zeros(len(keys), dtype=int) for keys in node_of]
    e_out = np.array([cur.get(("ov", v), e_data[j]) for j, v in enumerate(data_names)])
    return e_out, e_block


def choose_units(pt: ParTable, spec0: ModelSpec,
                 data: SingleData | ClusterData | ThreeLevelData | MultiGroupData,
                 lin: tuple[np.ndarray, np.ndarray] | None) -> Units:
    """Locations and scales for fitting `pt` (spec `spec0`) to `data`.

    Parameters
    ----------
    lin : (C, c) or None
        Linear equality constraints ``C theta = c``
        (:func:`msem_nb.estimation.constraints.linear_constraints`).
    """
    names = tuple(data.names)
    mean, sd = _data_moments(data)
    cells = _free_cells(spec0)
    e_data, e_block = _scale_exponents(pt, spec0, names, sd, cells)
    scale = np.exp2(e_data.astype(float))
    block_scale = tuple(np.exp2(e.astype(float)) for e in e_block)
    factor = np.array([np.exp2(float(_cell_exponent(c[0], e_block))) if c else 1.0
                       for c in cells])

    # the location system
    offs = np.cumsum([0] + [len(bs.names) for bs in spec0.blocks])
    n = int(offs[-1])
    absorbing = np.zeros(n, bool)        # nodes with a free or fixed-covariate intercept
    alpha_par: list[int] = []
    alpha_node: list[int] = []
    shared = False
    for b, bs in enumerate(spec0.blocks):
        absorbing[offs[b] + bs.alpha_free[0]] = True
    for k, cs in enumerate(cells):
        al = [c for c in cs if c[1] == "alpha"]
        if al:
            shared |= len(cs) > 1
            alpha_par.append(k)
            alpha_node.append(int(offs[al[0][0]]) + al[0][2])
    for i, row in enumerate(pt.records):
        cell = spec0.cells[i]
        if row["exo"] and row["op"] == "~1" and cell is not None:
            absorbing[offs[cell[0]] + cell[2]] = True
    # one equation per data variable and group: its locations summed over the group's
    # blocks are the variable's location (the same in every group)
    groups = sorted({bs.key.group for bs in spec0.blocks})
    p = len(names) * len(groups)
    fixed_nodes = np.flatnonzero(~absorbing)
    system = np.zeros((n, n))
    rhs = np.zeros(n)
    pos = {v: j for j, v in enumerate(names)}
    for b, bs in enumerate(spec0.blocks):
        first = groups.index(bs.key.group) * len(names)
        for i, v in enumerate(bs.ov):
            if v in pos:
                system[first + pos[v], offs[b] + i] = 1.0
    rhs[:p] = np.tile(mean, len(groups))
    fixed_rows = np.arange(p, p + len(fixed_nodes))
    located = (bool(pt.meanstructure) and not shared and p + len(fixed_nodes) == n
               and bool(np.all(np.isfinite(mean))))
    if located and lin is not None and alpha_par:
        located = not bool(np.any(lin[0][:, alpha_par]))
    if located:
        # generically non-singular: check at arbitrary (irrational-looking) paths
        # with the model's pattern
        M = system.copy()
        for b, bs in enumerate(spec0.blocks):
            A = bs.A0.copy()
            A[bs.A_free[0], bs.A_free[1]] = np.sqrt(2.0 + np.arange(len(bs.A_free[0]))) - 1.1
            o, nb = int(offs[b]), len(bs.names)
            blk = np.eye(nb) - A
            for q in fixed_nodes[(fixed_nodes >= o) & (fixed_nodes < o + nb)]:
                M[p + int(np.searchsorted(fixed_nodes, q)), o:o + nb] = blk[q - o]
        sv = np.linalg.svd(M, compute_uv=False)
        located = bool(sv[-1] > 1e-10 * sv[0])
    if not located:
        rhs[:] = 0.0
    return Units(loc=mean.copy() if located else np.zeros(len(names)), scale=scale,
                 block_scale=block_scale, factor=factor, located=bool(located),
                 node_offset=offs[:-1], system=system, rhs=rhs, fixed_rows=fixed_rows,
                 fixed_nodes=fixed_nodes, alpha_par=np.asarray(alpha_par, dtype=int),
                 alpha_node=np.asarray(alpha_node, dtype=int))
