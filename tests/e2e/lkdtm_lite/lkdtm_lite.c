// SPDX-License-Identifier: GPL-2.0
/*
 * lkdtm_lite - LKDTM's interface (debugfs provoke-crash/DIRECT) for kernels built
 * without CONFIG_LKDTM, such as Debian's. It knows the crash types tmemlab's kernel
 * health tests provoke, and does what drivers/misc/lkdtm/bugs.c does for them.
 *
 *	echo WARNING > /sys/kernel/debug/provoke-crash/DIRECT
 */
#define pr_fmt(fmt) "lkdtm: " fmt

#include <linux/bug.h>
#include <linux/debugfs.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/preempt.h>
#include <linux/string.h>
#include <linux/uaccess.h>

static int warn_counter;

static noinline void lkdtm_lite_warning(void)
{
	WARN_ON(++warn_counter);
}

static noinline void lkdtm_lite_bug(void)
{
	BUG();
}

static noinline void lkdtm_lite_softlockup(void)
{
	preempt_disable();
	for (;;)
		cpu_relax();
}

struct crashtype {
	const char *name;
	void (*func)(void);
};

static const struct crashtype crashtypes[] = {
	{ "WARNING", lkdtm_lite_warning },
	{ "BUG", lkdtm_lite_bug },
	{ "SOFTLOCKUP", lkdtm_lite_softlockup },
};

static ssize_t direct_write(struct file *file, const char __user *user_buf,
			    size_t count, loff_t *off)
{
	char buf[32];
	size_t len = min(count, sizeof(buf) - 1);
	char *name;
	int i;

	if (copy_from_user(buf, user_buf, len))
		return -EFAULT;
	buf[len] = '\0';
	name = strim(buf);

	for (i = 0; i < ARRAY_SIZE(crashtypes); i++) {
		if (!strcmp(name, crashtypes[i].name)) {
			pr_info("Performing direct entry %s\n", name);
			crashtypes[i].func();
			return count;
		}
	}
	return -EINVAL;
}

static const struct file_operations direct_fops = {
	.owner = THIS_MODULE,
	.write = direct_write,
	.llseek = generic_file_llseek,
};

static struct dentry *lkdtm_lite_dir;

static int __init lkdtm_lite_init(void)
{
	lkdtm_lite_dir = debugfs_create_dir("provoke-crash", NULL);
	debugfs_create_file("DIRECT", 0200, lkdtm_lite_dir, NULL, &direct_fops);
	return 0;
}

static void __exit lkdtm_lite_exit(void)
{
	debugfs_remove_recursive(lkdtm_lite_dir);
}

module_init(lkdtm_lite_init);
module_exit(lkdtm_lite_exit);
MODULE_DESCRIPTION("LKDTM's DIRECT interface for kernels without CONFIG_LKDTM (tests only)");
MODULE_LICENSE("GPL");
