"""``make bench``: what one request costs Tollgate in AWS calls, time and dollars (issue 6).

Everything runs on this machine against the embedded AWS (moto) with dummy
credentials; nothing can reach real AWS.  ``python -m bench`` prints the
table the README's "Performance and cost" section shows; ``python -m
bench.cost`` re-prices the last run with other prices.

- :mod:`bench.scenarios`: the table of scenarios, one small function each;
- :mod:`bench.world`: the warm API handler on the in-process embedded AWS;
- :mod:`bench.browser`: sign-ins through the default pages, a request at a time;
- :mod:`bench.counting`: counts and records AWS calls through botocore's events;
- :mod:`bench.measure`: calls, handler latency and the raw-boto3 overhead ratio;
- :mod:`bench.crypto`, :mod:`bench.coldstart`, :mod:`bench.package`: the other figures;
- :mod:`bench.cost`: the cost model; :mod:`bench.report`: the tables.
"""
