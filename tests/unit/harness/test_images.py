import shutil

import pytest

from harness.build import images


@pytest.fixture
def recipe_copy(tmp_path, monkeypatch):
    """A private copy of the recipe and tool sources, so tests may edit them."""
    recipe = tmp_path / "recipe"
    tools = tmp_path / "tools"
    shutil.copytree(images.RECIPE, recipe)
    shutil.copytree(images.TOOLS, tools, ignore=shutil.ignore_patterns("build"))
    monkeypatch.setattr(images, "RECIPE", recipe)
    monkeypatch.setattr(images, "TOOLS", tools)
    return recipe, tools


def test_hash_is_stable(recipe_copy):
    assert images.image_hash() == images.image_hash()


@pytest.mark.parametrize("edit", ["packages", "rc", "tool", "new_file"])
def test_any_input_change_changes_the_hash(recipe_copy, edit):
    recipe, tools = recipe_copy
    before = images.image_hash()
    if edit == "packages":
        (recipe / "packages.txt").write_text((recipe / "packages.txt").read_text() + "vim\n")
    elif edit == "rc":
        (recipe / "rc").write_text((recipe / "rc").read_text() + "# tweak\n")
    elif edit == "tool":
        (tools / "pressure.c").write_text((tools / "pressure.c").read_text() + "\n")
    else:
        (tools / "extra.c").write_text("int x;\n")
    assert images.image_hash() != before


def test_build_outputs_do_not_change_the_hash(recipe_copy):
    _recipe, tools = recipe_copy
    before = images.image_hash()
    (tools / "build").mkdir()
    (tools / "build" / "pressure").write_bytes(b"\x7fELF")
    assert images.image_hash() == before


def test_packages_list_skips_comments(recipe_copy):
    recipe, _tools = recipe_copy
    (recipe / "packages.txt").write_text("# comment\nopenssh-server\n\n  procps  \n")
    assert images.packages() == ["openssh-server", "procps"]


def test_extra_packages_key_their_own_image_and_order_does_not_matter(recipe_copy):
    plain = images.image_hash()
    assert images.image_hash(()) == plain     # experiments without packages share one
    with_redis = images.image_hash(("redis-server", "bc"))
    assert with_redis != plain
    assert images.image_hash(("bc", "redis-server")) == with_redis
    assert images.image_hash(("bc",)) not in (plain, with_redis)


def test_extra_packages_follow_the_recipe_once(recipe_copy):
    recipe, _tools = recipe_copy
    (recipe / "packages.txt").write_text("openssh-server\nprocps\n")
    assert images.packages(("procps", "redis-server")) == ["openssh-server", "procps",
                                                           "redis-server"]
