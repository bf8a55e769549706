package io.connmgr.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import io.connmgr.discovery.EtcdDiscovery;
import io.connmgr.discovery.Session;
import io.connmgr.discovery.SessionSnapshot;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code connmgr sessions}: the sessions now in etcd. */
@Command(name = "sessions", mixinStandardHelpOptions = true,
    description = "List the sessions now in etcd (invalid values are skipped with a warning on stderr).")
final class SessionsCommand implements Callable<Integer> {

  @Mixin
  EtcdOptions etcd = new EtcdOptions();

  @Option(names = "--role", paramLabel = "ROLE", description = "only this role (case-sensitive)")
  String role;

  @Option(names = "--json", description = "one JSON array on stdout")
  boolean json;

  @Spec
  CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    try (EtcdDiscovery d = etcd.build()) {
      SessionSnapshot snap;
      try {
        snap = d.snapshot(role).get(etcd.timeoutSeconds, TimeUnit.SECONDS);
      } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
        throw etcd.failure(e);
      }
      PrintWriter out = spec.commandLine().getOut();
      if (json) {
        ArrayNode arr = Json.MAPPER.createArrayNode();
        snap.sessions().forEach(s -> arr.add(Json.session(s)));
        out.println(Json.MAPPER.writeValueAsString(arr));
      } else {
        Table t = new Table("ROLE", "ID", "ADDRESS", "STATE", "VERSION", "KEY");
        for (Session s : snap.sessions()) {
          t.row(s.role(), Long.toString(s.serverId()), s.address(),
              (s.stopping() ? "stopping" : "serving") + (s.exclusive() ? ",exclusive" : ""),
              s.version().isEmpty() ? "-" : s.version(), s.key());
        }
        t.print(out);
        out.println(snap.sessions().size() + " session(s) at revision " + snap.revision()
            + (d.stats().invalidValues() > 0 ? ", " + d.stats().invalidValues() + " invalid value(s) skipped" : ""));
      }
      out.flush();
      return 0;
    }
  }
}
