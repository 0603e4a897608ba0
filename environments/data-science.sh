#!/bin/sh
# data-science.sh: environment setup script for numerical work: numpy, pandas, matplotlib, seaborn, scikit-learn.
#
# It is the data-science environment of the original SimplePySandbox README (without jupyter, which
# needs a notebook server the sandbox does not run). The build downloads the packages from PyPI, so the
# build jail needs network access (it has it by default); the environment takes about 400 MB on disk.
#
# Use it with the CLI:
#   pysandbox-admin create data-science environments/data-science.sh --wait
# or send its text as setup_script:
#   jq -n --rawfile s environments/data-science.sh '{name: "data-science", setup_script: $s}' |
#     curl -sS -X POST -H 'Content-Type: application/json' --data @- https://HOST/environments
# then run code in it with POST /execute-with-environment {"environment": "data-science", "code": ...}.
# Plots: matplotlib draws with Agg (no display); save them (plt.savefig("plot.png")) and they come back
# base64-encoded in the response's "files". Give large pandas/scikit-learn jobs a larger "memory_mb".
# POSIX sh, so it works whichever shell the environment builder runs it with.

set -e

echo "🔧 配置数据科学环境..."  # setting up the data-science environment

# 安装数据科学库 (the data-science libraries)
pip install numpy pandas matplotlib seaborn scikit-learn

# Fail the build now, not the first run, if a library cannot load in the jail (e.g. a memory limit).
MPLBACKEND=Agg python -c '
import io
import matplotlib.pyplot as plt
import numpy, pandas, seaborn, sklearn
plt.plot([1, 2, 3]); plt.savefig(io.BytesIO(), format="png")
print("numpy", numpy.__version__, "pandas", pandas.__version__, "scikit-learn", sklearn.__version__)
'

echo "✅ 数据科学环境配置完成"  # data-science environment ready
