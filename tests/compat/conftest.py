"""Let the shared helpers in `sample` report failed asserts as clearly as test modules do."""

import pytest

pytest.register_assert_rewrite("tests.compat.sample")
