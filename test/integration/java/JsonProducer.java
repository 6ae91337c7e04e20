// A plain Apache kafka-clients producer, as a website's own Java service would send events: JSON values
// (the seed's producer's shape), keyed by user_id, with the compression type given. Compiled and run by
// test/integration/java-producer.test.ts against the local stack's own Kafka jars.
//
//   java -cp <kafka jars> JsonProducer <brokers> <topic> <count> <compression>
import java.util.Properties;
import java.util.UUID;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

public class JsonProducer {
  public static void main(String[] args) throws Exception {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, args[3]);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.LINGER_MS_CONFIG, "20");
    p.put(ProducerConfig.BATCH_SIZE_CONFIG, "262144");
    int count = Integer.parseInt(args[2]);
    long start = System.currentTimeMillis() - count;
    String[] types = {"PAGE_VIEW", "CLICK", "VIEW_ITEM", "ADD_TO_CART", "PURCHASE"};
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
      for (int i = 0; i < count; i++) {
        String user = new UUID(0x1234L, i % 500).toString();
        String id = new UUID(0x5678L, i).toString();
        String json = "{\"user_id\":\"" + user + "\",\"event_type\":\"" + types[i % types.length] + "\",\"event_time\":" + (start + i)
            + ",\"event_id\":\"" + id + "\",\"metadata\":{\"page\":\"/item/" + (i % 97) + "\",\"session_id\":\"s" + (i % 1000) + "\"}}";
        producer.send(new ProducerRecord<>(args[1], user, json));
      }
      producer.flush();
    }
    System.out.println("sent " + count);
  }
}
