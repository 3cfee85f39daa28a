"""Generate the molecular-dynamics force-field data of ``benchmarks/force_field.py``.

Energies and forces from GFN2-xTB (``tblite``) along Langevin molecular dynamics (ASE) at 500 K:
0.5 fs steps, 1 ps of equilibration, then one frame every 10 fs. Two independent trajectories per
molecule (different seeds, same start geometry): a training pool and a test set, so that no test
frame is a 10 fs neighbour of a training frame.

Units follow sGDML: positions in Angstrom, energies in kcal/mol, forces in kcal/mol/Angstrom.
Positions are stored as float32 and the energy and forces are computed at exactly those rounded
positions, so the stored arrays are consistent to the last bit; forces are stored as float32
(rounding error ~1e-5 kcal/mol/A, far below any model's error), energies as float64 (they are
about -7,000 kcal/mol for ethanol).

This script needs the chemistry packages (``pip install ase tblite``); the benchmark and the
tests only read the committed ``benchmarks/data/*.npz``. Run with::

    OMP_NUM_THREADS=1 python -m benchmarks.make_force_field_data --molecule ethanol
    OMP_NUM_THREADS=1 python -m benchmarks.make_force_field_data --molecule aspirin
"""

import argparse
import os
import time
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parent / "data"

TEMPERATURE_K = 500.0
TIMESTEP_FS = 0.5
EQUILIBRATION_FS = 1000.0
FRAME_INTERVAL_FS = 10.0
# Langevin friction: weak enough not to perturb the dynamics between frames, strong enough to
# thermalise within the 1 ps equilibration (ASE's documented typical range is 0.001-0.02 / fs).
FRICTION_PER_FS = 0.01


def _ethanol():
    from ase.build import molecule

    return molecule("CH3CH2OH")


def _aspirin():
    """Aspirin (C9H8O4, 21 atoms) from a rough hand-built geometry relaxed with GFN2-xTB.

    Benzene ring in the xy-plane; the carboxylic acid on ring carbon 1, the acetoxy group on
    ring carbon 2 pointing out of the plane. The relaxation checks that the bond graph it
    reaches is aspirin's (21 bonds, each hydrogen bonded once).
    """
    from ase import Atoms

    radius = 1.395
    angles = np.deg2rad(60.0 * np.arange(6))
    radial = np.stack([np.cos(angles), np.sin(angles), np.zeros(6)], axis=1)
    ring = radius * radial
    symbols, positions = ["C"] * 6, list(ring)

    def add(symbol, origin, direction, length):
        direction = np.asarray(direction, dtype=float)
        position = np.asarray(origin) + length * direction / np.linalg.norm(direction)
        symbols.append(symbol)
        positions.append(position)
        return position

    for k in range(2, 6):  # ring hydrogens on carbons 3-6
        add("H", ring[k], radial[k], 1.08)
    carboxyl_c = add("C", ring[0], radial[0], 1.48)
    add("O", carboxyl_c, [0.5, -0.866, 0.0], 1.22)
    hydroxyl_o = add("O", carboxyl_c, [0.5, 0.866, 0.0], 1.34)
    add("H", hydroxyl_o, [1.0, 0.0, 0.0], 0.97)
    ester_o = add("O", ring[1], radial[1], 1.36)
    ester_c = add("C", ester_o, [0.0, 0.5, 0.866], 1.36)
    add("O", ester_c, [0.8, 0.3, 0.5], 1.20)
    methyl_c = add("C", ester_c, [-0.5, 0.6, 0.4], 1.50)
    for direction in ([-1.0, 0.2, 0.3], [0.2, 1.0, 0.3], [-0.2, 0.3, 1.0]):
        add("H", methyl_c, direction, 1.09)
    atoms = Atoms(symbols=symbols, positions=np.array(positions))
    assert atoms.get_chemical_formula(mode="hill") == "C9H8O4"

    from ase.optimize import BFGS

    atoms.calc = _calculator()
    BFGS(atoms, logfile=None).run(fmax=0.01, steps=500)
    _check_bond_graph(atoms, n_bonds=21)
    atoms.calc = None
    return atoms


def _check_bond_graph(atoms, n_bonds):
    from ase.neighborlist import NeighborList, natural_cutoffs

    neighbours = NeighborList(natural_cutoffs(atoms), self_interaction=False, bothways=True)
    neighbours.update(atoms)
    degree = np.array([len(neighbours.get_neighbors(i)[0]) for i in range(len(atoms))])
    hydrogens = atoms.numbers == 1
    if degree.sum() // 2 != n_bonds or np.any(degree[hydrogens] != 1):
        raise RuntimeError(f"relaxed geometry has the wrong bond graph: degrees {degree.tolist()}")


MOLECULES = {"ethanol": _ethanol, "aspirin": _aspirin}


def _calculator():
    from tblite.ase import TBLite

    return TBLite(method="GFN2-xTB", verbosity=0)


def run_trajectory(atoms, n_frames, seed):
    """Langevin MD from ``atoms``; return float32 positions and the energies/forces there."""
    from ase import units
    from ase.constraints import FixCom
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary, ZeroRotation

    atoms = atoms.copy()
    atoms.calc = _calculator()
    rng = np.random.default_rng(seed)
    MaxwellBoltzmannDistribution(atoms, temperature_K=TEMPERATURE_K, rng=rng)
    Stationary(atoms)
    ZeroRotation(atoms)
    atoms.set_constraint(FixCom())  # ASE's recommended way to fix the centre of mass (not fixcm)
    dynamics = Langevin(atoms, timestep=TIMESTEP_FS * units.fs, temperature_K=TEMPERATURE_K,
                        friction=FRICTION_PER_FS / units.fs, fixcm=False, rng=rng)
    dynamics.run(int(round(EQUILIBRATION_FS / TIMESTEP_FS)))

    # evaluates energy and forces at the float32-rounded positions; a bare copy, since the
    # dynamics' FixCom constraint would otherwise alter the forces it reports
    from ase import Atoms

    probe = Atoms(numbers=atoms.numbers, positions=atoms.positions)
    probe.calc = _calculator()
    ev_to_kcal_mol = units.mol / units.kcal
    steps_per_frame = int(round(FRAME_INTERVAL_FS / TIMESTEP_FS))
    positions = np.empty((n_frames, len(atoms), 3), dtype=np.float32)
    energies = np.empty(n_frames, dtype=np.float64)
    forces = np.empty((n_frames, len(atoms), 3), dtype=np.float32)
    for frame in range(n_frames):
        dynamics.run(steps_per_frame)
        positions[frame] = atoms.positions.astype(np.float32)
        probe.positions = positions[frame].astype(np.float64)
        energies[frame] = probe.get_potential_energy() * ev_to_kcal_mol
        forces[frame] = (probe.get_forces(apply_constraint=False) * ev_to_kcal_mol).astype(np.float32)
    return positions, energies, forces


def make_dataset(name, n_train_pool, n_test, seed=0):
    """Generate and save ``benchmarks/data/<name>.npz``; return its path."""
    start = MOLECULES[name]()
    begin = time.time()
    train = run_trajectory(start, n_train_pool, seed=seed)
    test = run_trajectory(start, n_test, seed=seed + 1)
    seconds = time.time() - begin
    from importlib.metadata import version

    DATA_DIR.mkdir(exist_ok=True)
    path = DATA_DIR / f"{name}.npz"
    np.savez_compressed(
        path,
        z=start.numbers.astype(np.int64),
        R_train=train[0], E_train=train[1], F_train=train[2],
        R_test=test[0], E_test=test[1], F_test=test[2],
        theory=np.array(f"GFN2-xTB (tblite {version('tblite')}, ASE {version('ase')})"),
        md=np.array(f"Langevin {TEMPERATURE_K:g} K, friction {FRICTION_PER_FS:g}/fs, "
                    f"{TIMESTEP_FS:g} fs steps, {EQUILIBRATION_FS:g} fs equilibration, "
                    f"a frame every {FRAME_INTERVAL_FS:g} fs; train seed {seed}, test seed {seed + 1}"),
        units=np.array("R: Angstrom, E: kcal/mol, F: kcal/mol/Angstrom"),
    )
    print(f"{name}: {n_train_pool} + {n_test} frames in {seconds:.0f} s -> {path} "
          f"({os.path.getsize(path) / 1e6:.2f} MB)")
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--molecule", choices=sorted(MOLECULES) + ["all"], default="all")
    parser.add_argument("--n-train-pool", type=int, default=1500)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    names = sorted(MOLECULES) if args.molecule == "all" else [args.molecule]
    for name in names:
        make_dataset(name, args.n_train_pool, args.n_test, seed=args.seed)


if __name__ == "__main__":
    main()
