package io.connmgr.bench.scenario;

/**
 * One scenario of the {@link io.connmgr.bench.ScenarioRunner}: measures connmgr and its baselines in the same run,
 * against the runner's shared etcd, and adds its figures, report section, goals and charts to the results.
 */
public interface Scenario {

  /** A short name, for progress lines. */
  String name();

  /** Runs the scenario; every resource it opens is closed before it returns. */
  void run(Env env, Results results) throws Exception;
}
