/** The tiny QEMU guest for tests (built by the product's lab), cached for every test run. */
import { tinyGuestImage } from "../../src/lab/qemu-guest.ts";

export const GUEST_CACHE = process.env.NETLET_TEST_CACHE ?? "/var/cache/netlet-test";

export const tinyGuest = (): { kernel: string; initrd: string } => tinyGuestImage(GUEST_CACHE);
