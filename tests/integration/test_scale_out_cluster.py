"""test_scale_out.py's tests again on a three-primary Redis Cluster (`queue.cluster: true`): the same tests, in a
module of their own so that a test worker runs them beside the single-Redis ones."""

from tests.integration.test_scale_out import *  # noqa: F403  (the tests and their fixtures)

LAYOUTS = ("redis-cluster",)
