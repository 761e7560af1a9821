"""callqc domain: typed records, settings, audio, diarization, ASR, QA features and rules.

Importing :mod:`qc` turns third-party telemetry off and the model hubs' clients offline (unless
``QC_ALLOW_DOWNLOADS=1``) before any of those libraries is imported: call recordings are private,
nothing about them may leave the machine, and every model a run needs ships on disk. It also puts
NumPy's BLAS on one thread (:mod:`qc._threads`), so that a call gives the same results in whichever
process runs it. Progress bars show only on a terminal (:mod:`qc._progress`).
"""

from qc._privacy import disable_telemetry, enforce_offline
from qc._progress import bars_off_unless_terminal
from qc._threads import pin_blas_threads

disable_telemetry()
enforce_offline()
pin_blas_threads()
bars_off_unless_terminal()

__version__ = "0.1.0"
