// Readiness probe of the test broker: sends real Metadata (describeCluster) and
// ApiVersions requests with Kafka's own admin client until the broker answers with
// itself as a live node, or until the deadline passes. Then it looks up the group and
// transaction coordinators once, which makes a freshly formatted broker create and
// load __consumer_offsets and __transaction_state now rather than during the first
// test (where clients would see "coordinator is loading" retries).
//
// Run by scripts/kafka/start.sh with Java's single-file source launcher:
//   java -cp '<cache>/libs/*' scripts/kafka/Ready.java 127.0.0.1:9092 60
// Exit 0: ready. Exit 1: not ready by the deadline (the last error is printed).

import java.util.Collection;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.errors.TransactionalIdNotFoundException;

public class Ready {
  public static void main(String[] args) throws Exception {
    String bootstrap = args.length > 0 ? args[0] : "127.0.0.1:9092";
    long timeoutSeconds = args.length > 1 ? Long.parseLong(args[1]) : 60;
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutSeconds);

    Properties props = new Properties();
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "3000");
    props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "5000");
    props.put(AdminClientConfig.RETRY_BACKOFF_MS_CONFIG, "200");
    props.put(AdminClientConfig.CLIENT_ID_CONFIG, "roamwatch-ready-probe");

    String last = "no answer";
    try (Admin admin = Admin.create(props)) {
      while (System.nanoTime() < deadline) {
        try {
          DescribeClusterResult cluster = admin.describeCluster();
          Collection<Node> nodes = cluster.nodes().get(5, TimeUnit.SECONDS);
          String clusterId = cluster.clusterId().get(5, TimeUnit.SECONDS);
          if (!nodes.isEmpty()) {
            // The broker answers metadata requests; listing topics proves the
            // metadata log has been loaded.
            admin.listTopics().names().get(5, TimeUnit.SECONDS);
            // Group coordinator: an unknown group has no offsets (empty answer).
            admin.listConsumerGroupOffsets("roamwatch-ready-probe")
                .partitionsToOffsetAndMetadata().get(10, TimeUnit.SECONDS);
            // Transaction coordinator: an unknown transactional id is the expected answer.
            try {
              admin.describeTransactions(List.of("roamwatch-ready-probe")).all().get(10, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
              if (!(e.getCause() instanceof TransactionalIdNotFoundException)) throw e;
            }
            System.out.println("kafka ready: cluster " + clusterId + ", nodes " + nodes);
            return;
          }
          last = "cluster " + clusterId + " has no live broker yet";
        } catch (Exception e) {
          Throwable cause = e.getCause() != null ? e.getCause() : e;
          last = cause.getClass().getSimpleName() + ": " + cause.getMessage();
        }
        Thread.sleep(250);
      }
    }
    System.err.println("kafka not ready at " + bootstrap + " after " + timeoutSeconds + "s: " + last);
    System.exit(1);
  }
}
