package dev.reasonir;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The query prompts of the official BRIGHT evaluation, character for character (spec table). */
class InstructionsTest {
    @Test
    void everyBrightTask() {
        String post = "<|user|>\nGiven a %s post, retrieve relevant passages that help answer the post\n<|embed|>\n";
        for (String t : new String[] {"biology", "earth_science", "economics", "psychology", "robotics",
                "stackoverflow", "sustainable_living"}) {
            assertEquals(String.format(post, t), Instructions.bright(t));
        }
        assertEquals("<|user|>\nGiven a pony question, retrieve relevant passages that help answer the question\n"
                + "<|embed|>\n", Instructions.bright("pony"));
        assertEquals("<|user|>\nGiven a coding problem, retrieve relevant examples that help answer the problem\n"
                + "<|embed|>\n", Instructions.bright("leetcode"));
        String math = "<|user|>\nGiven a Math problem, retrieve relevant examples that help answer the problem\n"
                + "<|embed|>\n";
        assertEquals(math, Instructions.bright("aops"));
        assertEquals(math, Instructions.bright("theoremqa_questions"));
        assertEquals("<|user|>\nGiven a Math problem, retrieve relevant theorems that help answer the problem\n"
                + "<|embed|>\n", Instructions.bright("theoremqa_theorems"));
        assertEquals(12, Instructions.BRIGHT_TASKS.size());
        for (String t : Instructions.BRIGHT_TASKS) Instructions.bright(t);
    }

    @Test
    void documentAndCustom() {
        assertEquals("<|embed|>\n", Instructions.DOCUMENT);
        assertEquals("<|user|>\nFind X\n<|embed|>\n", Instructions.query("Find X"));
        assertThrows(IllegalArgumentException.class, () -> Instructions.bright("chemistry"));
        assertThrows(IllegalArgumentException.class, () -> Instructions.query(""));
    }
}
