"""The sections and shared pieces of ``benchmarks/gpu_check.py``, the one prepared GPU check.

One module per section (``input_path``, ``mfu``, ``ablation``, ``energy``, ``throttle``,
``peers_arms``), each with ``run(args, report, budget)`` and ``markdown(section)``;
``common`` (section names and caps, budget, recorded errors / skips, progress writes),
``fits`` (the timed training runs), ``options`` (command line and estimate), ``markdown``
(the report's header and footer) and ``run`` (``main``). Run it through the driver:
``python benchmarks/gpu_check.py --tiny --out /tmp/gpu_check_tiny``.
"""
