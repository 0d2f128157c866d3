import { defineConfig } from "vitest/config";

// Two projects: "unit" runs anywhere (Pulumi mocks, renderers, validation); "lab" needs root and a
// running lab, and runs inside the lab's operator network namespace (see tools/test.sh).
export default defineConfig({
    test: {
        projects: [
            {
                test: {
                    name: "unit",
                    include: ["test/**/*.test.ts"],
                    exclude: ["test/lab/**"],
                    isolate: true,
                    testTimeout: 20_000,
                    // No unit test may reach a host: the homelab config names real addresses.
                    setupFiles: ["test/no-network.ts", "test/isolation.ts"],
                },
            },
            {
                test: {
                    name: "lab",
                    include: ["test/lab/**/*.test.ts"],
                    isolate: true,
                    fileParallelism: false,
                    testTimeout: 300_000,
                    hookTimeout: 300_000,
                },
            },
        ],
    },
});
