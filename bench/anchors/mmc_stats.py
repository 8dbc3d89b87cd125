"""Output statistics of an M/M/c run, shared by the Python anchors.

The same figures the Rust anchor (heap_limit) prints: the mean wait in queue with a 95%
confidence interval from 30 batch means (customers in order, Student t with 29 degrees of
freedom), the mean sojourn, the time-average number in system and in queue (Little's law
over the run: total time spent divided by the run's length) and the utilisation, with the
M/M/c closed forms beside them (Erlang C) to check the model against.
"""

import math

N_BATCHES = 30
T_CRIT_29 = 2.045  # Student t(0.975, 29)


def erlang_c(lam, mu, c):
    """Probability that an arrival waits in an M/M/c queue (Erlang C)."""
    a = lam / mu
    rho = a / c
    if rho >= 1.0:
        return 1.0
    term = 1.0
    total = 1.0
    for k in range(1, c):
        term *= a / k
        total += term
    top = term * a / c / (1.0 - rho)
    return top / (total + top)


def summarise(lam, mu, c, waits, sojourns, services, t_end):
    n = len(waits)
    batch = max(n // N_BATCHES, 1)
    means = [sum(waits[b * batch:(b + 1) * batch]) / batch for b in range(N_BATCHES)]
    m = sum(means) / N_BATCHES
    var = sum((x - m) ** 2 for x in means) / (N_BATCHES - 1)
    sum_wait = math.fsum(waits)
    sum_sojourn = math.fsum(sojourns)
    sum_service = math.fsum(services)
    pw = erlang_c(lam, mu, c)
    wq_theory = pw / (c * mu - lam) if lam < c * mu else math.inf
    return {
        "wq": sum_wait / n,
        "wq_ci95_halfwidth": T_CRIT_29 * math.sqrt(var) / math.sqrt(N_BATCHES),
        "w": sum_sojourn / n,
        "l_time_avg": sum_sojourn / t_end,
        "lq_time_avg": sum_wait / t_end,
        "utilisation": sum_service / (c * t_end),
        "t_end": t_end,
        "wq_theory": wq_theory,
        "w_theory": wq_theory + 1.0 / mu,
    }
