"""A plugin that fails on import, to show that it cannot take the others down with it."""

raise ImportError("bench_fake_plugin.broken needs the package 'not-installed-anywhere'")
