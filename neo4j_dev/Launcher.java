import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;

/**
 * Dev Neo4j server for Tianwang: an embedded Neo4j 5.26 database with Bolt on a loopback
 * address and auth off. Stops cleanly on SIGTERM/SIGINT through a JVM shutdown hook.
 *
 * <p>Usage: {@code java -cp 'lib/*' Launcher.java HOME HOST PORT PAGECACHE_BYTES}
 */
public final class Launcher {
    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: Launcher HOME HOST PORT PAGECACHE_BYTES");
            System.exit(2);
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        String host = args[1];
        int port = Integer.parseInt(args[2]);
        long pageCache = Long.parseLong(args[3]);
        Files.createDirectories(home);

        DatabaseManagementService service = new DatabaseManagementServiceBuilder(home)
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress(host, port))
                .setConfig(GraphDatabaseSettings.auth_enabled, false)
                .setConfig(GraphDatabaseSettings.pagecache_memory, pageCache)
                .build();
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("tianwang-neo4j: shutting down");
            service.shutdown();
            System.out.println("tianwang-neo4j: stopped");
            stopped.countDown();
        }, "tianwang-neo4j-shutdown"));
        GraphDatabaseService db = service.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME);
        db.executeTransactionally("RETURN 1");
        System.out.println("tianwang-neo4j: ready bolt://" + host + ":" + port + " home=" + home);
        System.out.flush();
        stopped.await();
    }
}
