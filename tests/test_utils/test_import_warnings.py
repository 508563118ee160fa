"""Importing Drive3D and its sparse ops prints none of spconv's import-time FutureWarnings
(torch's deprecated ``torch.cuda.amp.custom_fwd/bwd``), while other FutureWarnings still show."""
import subprocess
import sys

CODE = '''
import warnings
warnings.simplefilter("error", FutureWarning)  # any FutureWarning would raise
import mmdet3d_plugin
import mmdet3d_plugin.ops.sparse.layers
try:
    warnings.warn("still shown", FutureWarning)
except FutureWarning:
    print("OTHER-RAISED")
'''


def test_spconv_deprecation_warnings_are_filtered_and_nothing_else():
    result = subprocess.run([sys.executable, '-c', CODE], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'custom_fwd' not in result.stderr and 'custom_bwd' not in result.stderr
    assert 'OTHER-RAISED' in result.stdout
