"""Portfolio simulator behind ``jifen simulate``: raw zone and bank tables plus the oracle.

No public data of this kind exists, so the simulator is the project's test bed: a hidden
latent process (long-run quality, monthly health, stress episodes, a non-linear default
hazard) drives every raw table, and the true PD of each application is kept aside.
"""

from features.simulate.config import SimulationConfig, load_simulation_config
from features.simulate.run import run_simulation
from features.simulate.summary import SimulationSummary

__all__ = ["SimulationConfig", "SimulationSummary", "load_simulation_config", "run_simulation"]
