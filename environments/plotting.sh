#!/bin/sh
# plotting.sh: environment setup script for charts saved as files: matplotlib, seaborn, plotly and kaleido.
#
# The build downloads the packages from PyPI, so the build jail needs network access (it has it by default).
# Runs have no display: matplotlib must draw with its Agg backend. It falls back to Agg by itself, but
# say so to skip the probing: MPLBACKEND=Agg, or first in the code:
#   import matplotlib; matplotlib.use("Agg")
# plt.show() shows nothing; plt.savefig("chart.png") does, and the file comes back base64-encoded in
# the response's "files". Plotly writes HTML with fig.write_html("chart.html") and PNG/SVG/PDF with
# fig.write_image("chart.png"), which runs kaleido's bundled Chromium: ask for "memory_mb": 1024.
# kaleido is pinned to 0.2.1 and plotly below 6.1: kaleido 1.x no longer bundles a browser and needs
# Google Chrome installed on the host; plotly 6.1 deprecated kaleido 0.2 (a warning on every export)
# and later releases remove it.
#
# Use it with the CLI:
#   pysandbox-admin create plotting environments/plotting.sh --wait
# or send its text as setup_script:
#   jq -n --rawfile s environments/plotting.sh '{name: "plotting", setup_script: $s}' |
#     curl -sS -X POST -H 'Content-Type: application/json' --data @- https://HOST/environments
# POSIX sh, so it works whichever shell the environment builder runs it with.

set -e

echo "🔧 Setting up the plotting environment..."

pip install matplotlib seaborn "plotly<6.1" "kaleido==0.2.1"

# Fail the build now, not the first run, if a library cannot load in the jail.
MPLBACKEND=Agg python -c '
import io
import matplotlib, matplotlib.pyplot as plt
import plotly, seaborn
plt.plot([1, 2, 3]); plt.savefig(io.BytesIO(), format="png")
print("matplotlib", matplotlib.__version__, "backend", matplotlib.get_backend(), "plotly", plotly.__version__)
'

echo "✅ Plotting environment ready"
