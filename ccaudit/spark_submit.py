"""The program to give spark-submit for ``ccaudit spark`` on a cluster: spark-submit runs
a Python file, not ``python -m`` or the ``ccaudit`` script. Nothing imports this module.

    spark-submit [options] "$(python -c 'import ccaudit.spark_submit as m; print(m.__file__)')" INPUT... --db STORE
"""
import sys

from ccaudit.__main__ import main

if __name__ == "__main__":
    sys.argv[1:1] = ["spark"]
    main()
