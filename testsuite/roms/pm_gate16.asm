; 16-bit gates: a 16-bit call gate (type 4) from 16-bit ring-3 code to
; ring 1 with a stack switch, word parameters copied, RETF n back to the
; outer ring; the stack checks of that switch with their #TS/#SS error codes
; (SDM vol. 3 §5.8.5, vol. 2 CALL "CALL-GATE-MORE-PRIVILEGE"); 16-bit
; interrupt and trap gates (types 6 and 7) pushing 16-bit frames and error
; codes (SDM vol. 3 §6.12.1, figure 6-4).
%include "harness.inc"
%include "frame16.inc"

SEL_R3_CODE16  equ 0x40         ; 16-bit code, base 0xF0000, DPL 3
SEL_R3_STACK16 equ 0x48         ; 16-bit data, base 0x10000, DPL 3
SEL_R1_CODE16  equ 0x50         ; 16-bit code, base 0xF0000, DPL 1
SEL_R1_STACK16 equ 0x58         ; 16-bit data, base 0x20000, DPL 1
SEL_GATE16     equ 0x60         ; 16-bit call gate, DPL 3, 2 words
SEL_R1_ABSENT  equ 0x68         ; like SEL_R1_STACK16 but not present
SEL_R1_SMALL   equ 0x70         ; like SEL_R1_STACK16, limit 0xFF9
SEL_SHORT_TSS  equ 0x78         ; the harness TSS with limit 0x0B
SEL_GATE16_R0  equ 0x80         ; 16-bit call gate, DPL 0, to ring-0 16-bit code

R3_SP          equ 0xFFF0       ; ring-3 SP at entry
R1_SP          equ 0x1000       ; the TSS's ring-1 SP (ESP1)
TSS_ESP1       equ TSS_BASE + 0x0C
TSS_SS1        equ TSS_BASE + 0x10

; ENTER_R3_16 label: IRET to 16-bit ring-3 code at `label`, on the 16-bit
; ring-3 stack, with EFLAGS from the optional second argument.
%macro ENTER_R3_16 1-2 0x00000002
    IRET_TO SEL_R3_CODE16 | 3, CODE16_OFF(%1), SEL_R3_STACK16 | 3, R3_SP, %2
%endmacro

; WITH_SS1 selector, ring-3 code, error vector, error code, "name": point
; the TSS's ring-1 stack at `selector`, run the ring-3 code (which enters
; ring 1 through a gate) and expect the stack switch to fail with that
; exception.
%macro WITH_SS1 5
    mov word [TSS_SS1], %1
    BEGIN_EXPECT
    ENTER_R3_16 %2
    END_EXPECT %3, %4, %5
%endmacro

test_main:
    mov esi, s_hello
    call print

    SET_DESC SEL_R3_CODE16 / 8, 0xF0000, 0xFFFF, 0xFA, 0x0
    SET_DESC SEL_R3_STACK16 / 8, 0x10000, 0xFFFF, 0xF2, 0x0
    SET_DESC SEL_R1_CODE16 / 8, 0xF0000, 0xFFFF, 0xBA, 0x0
    SET_DESC SEL_R1_STACK16 / 8, 0x20000, 0xFFFF, 0xB2, 0x0
    SET_DESC SEL_R1_ABSENT / 8, 0x20000, 0xFFFF, 0x32, 0x0
    SET_DESC SEL_R1_SMALL / 8, 0x20000, 0x0FF9, 0xB2, 0x0
    ; Type 4 (16-bit call gate), P, DPL 3, two parameter words.
    SET_GATE SEL_GATE16 / 8, SEL_R1_CODE16, CODE16_OFF(gate16_target), 0xE4, 2
    mov dword [TSS_ESP1], R1_SP
    mov word [TSS_SS1], SEL_R1_STACK16 | 1

    ; --- The call and the return -------------------------------------
    BEGIN_EXPECT
    ENTER_R3_16 r3_call_gate
    END_EXPECT 0x30, NO_FAULT, "16-bit call gate to ring 1 and RETF 4 back to ring 3"
    ; Figure 5-13 (16-bit gate): the inner stack holds, from the top,
    ; IP, CS, the parameters as copied, SP, SS, all words.
    cmp word [scratch], CODE16_OFF(r3_after_call)
    CHECK "the gate pushed the caller's IP (a word)"
    cmp word [scratch + 2], SEL_R3_CODE16 | 3
    CHECK "the gate pushed the caller's CS"
    cmp word [scratch + 4], 0x2222
    CHECK "parameter word 0 copied to the inner stack"
    cmp word [scratch + 6], 0x1111
    CHECK "parameter word 1 copied to the inner stack"
    cmp word [scratch + 8], R3_SP - 4
    CHECK "the gate pushed the caller's SP (below its parameters)"
    cmp word [scratch + 10], SEL_R3_STACK16 | 3
    CHECK "the gate pushed the caller's SS"
    cmp word [scratch + 12], R1_SP - 12
    CHECK "inner SP = TSS ESP1 - 6 words"
    cmp word [scratch + 14], SEL_R1_STACK16 | 1
    CHECK "inner SS comes from the TSS's SS1"
    cmp word [scratch + 16], SEL_R1_CODE16 | 1
    CHECK "the target runs at CPL 1"
    cmp word [scratch + 20], R3_SP
    CHECK "RETF 4 restored the caller's SP past its parameters"
    cmp word [scratch + 22], SEL_R3_STACK16 | 3
    CHECK "RETF restored the caller's SS"
    cmp word [scratch + 24], 0
    CHECK "RETF to ring 3 nulls ES holding a DPL 1 segment"
    cmp word [scratch + 26], SEL_R3_CODE16 | 3
    CHECK "RETF returned to CPL 3"

    ; --- The stack checks of the switch (vol. 2 CALL) -----------------
    WITH_SS1 0, r3_call_gate, 10, 0, "null SS1 in the TSS: #TS(0)"
    WITH_SS1 SEL_R1_STACK16, r3_call_gate, 10, SEL_R1_STACK16, "SS1 with RPL 0 for a ring-1 target: #TS(SS)"
    WITH_SS1 SEL_DATA32 | 1, r3_call_gate, 10, SEL_DATA32, "SS1 naming a DPL 0 segment: #TS(SS)"
    WITH_SS1 SEL_R1_CODE16 | 1, r3_call_gate, 10, SEL_R1_CODE16, "SS1 naming a code segment: #TS(SS)"
    WITH_SS1 0x0FF8 | 1, r3_call_gate, 10, 0x0FF8, "SS1 beyond the GDT limit: #TS(SS)"
    WITH_SS1 SEL_R1_ABSENT | 1, r3_call_gate, 12, SEL_R1_ABSENT, "SS1 not present: #SS(SS)"
    ; ESP1 0x1000 with the limit at 0xFF9: the six-word frame (0xFF4-0xFFF)
    ; does not fit.
    WITH_SS1 SEL_R1_SMALL | 1, r3_call_gate, 12, SEL_R1_SMALL, "no room on the ring-1 stack: #SS(SS)"
    ; The fault belongs to the CALL: nothing of the switch is kept.
    cmp dword [frame], CODE16_OFF(r3_call)
    CHECK "the fault points at the CALL"
    cmp word [frame + 4], SEL_R3_CODE16 | 3
    CHECK "the fault frame holds the ring-3 CS"
    cmp word [frame + 12], R3_SP - 4
    CHECK "the fault frame holds the caller's SP"
    cmp word [frame + 16], SEL_R3_STACK16 | 3
    CHECK "the fault frame holds the caller's SS"
    ; The same stack checks for INT n through a gate to ring 1 (vol. 2
    ; INT n, "INTER-PRIVILEGE-LEVEL-INTERRUPT"; EXT is 0 for INT n).
    SET_IDT_GATE 0x43, SEL_R1_CODE16, CODE16_OFF(r1_int_handler), 0xE6
    WITH_SS1 0, r3_int43, 10, 0, "INT to ring 1, null SS1: #TS(0)"
    WITH_SS1 SEL_DATA32 | 1, r3_int43, 10, SEL_DATA32, "INT to ring 1, SS1 naming a DPL 0 segment: #TS(SS)"
    WITH_SS1 SEL_R1_ABSENT | 1, r3_int43, 12, SEL_R1_ABSENT, "INT to ring 1, SS1 not present: #SS(SS)"
    WITH_SS1 SEL_R1_SMALL | 1, r3_int43, 12, SEL_R1_SMALL, "INT to ring 1, no room for the frame: #SS(SS)"
    cmp word [frame + 12], R3_SP
    CHECK "the failed INT left the ring-3 SP"
    mov word [TSS_SS1], SEL_R1_STACK16 | 1

    ; A TSS too short to hold SS1:ESP1 (limit 0x0B covers only ESP0 and
    ; SS0): #TS(current TSS) (vol. 2 CALL and INT n, "IF (TSSstackAddress
    ; + 5) > current TSS limit"). LTR itself does not check the limit.
    SET_DESC SEL_SHORT_TSS / 8, TSS_BASE, 0x0B, 0x89, 0x0
    mov ax, SEL_SHORT_TSS
    ltr ax
    BEGIN_EXPECT
    ENTER_R3_16 r3_call_gate
    END_EXPECT 10, SEL_SHORT_TSS, "call gate to ring 1 with SS1 beyond the TSS limit: #TS(TSS)"
    BEGIN_EXPECT
    ENTER_R3_16 r3_int43
    END_EXPECT 10, SEL_SHORT_TSS, "INT to ring 1 with SS1 beyond the TSS limit: #TS(TSS)"
    and byte [GDT_BASE + SEL_TSS + 5], ~2       ; available again, for LTR
    mov ax, SEL_TSS
    ltr ax
    BEGIN_EXPECT
    ENTER_R3_16 r3_int43
    END_EXPECT 0x30, NO_FAULT, "INT to ring 1 through a 16-bit gate with a good SS1"
    cmp word [scratch + 12], R1_SP - 10
    CHECK "five words on the ring-1 stack"

    ; An exception (#UD) instead of INT n: the error codes carry EXT (bit 0)
    ; (SDM vol. 3 §6.13, "EXT").
    SET_IDT_GATE 6, SEL_R1_CODE16, CODE16_OFF(r1_int_handler), 0x86
    WITH_SS1 SEL_DATA32 | 1, r3_ud, 10, SEL_DATA32 | 1, "#UD to ring 1, SS1 naming a DPL 0 segment: #TS(SS|EXT)"
    WITH_SS1 SEL_R1_SMALL | 1, r3_ud, 12, SEL_R1_SMALL | 1, "#UD to ring 1, no room for the frame: #SS(SS|EXT)"
    call build_idt
    mov word [TSS_SS1], SEL_R1_STACK16 | 1

    ; --- A 16-bit call gate at the same privilege -----------------------
    ; No stack switch: CS and IP are pushed as words on the current stack
    ; (vol. 2 CALL, "SAME-PRIVILEGE", CallGateSize = 16).
    SET_GATE SEL_GATE16_R0 / 8, SEL_CODE16, CODE16_OFF(gate16_same_level), 0x84, 0
    BEGIN_EXPECT
    jmp SEL_CODE16:CODE16_OFF(r0_call_gate)
    END_EXPECT 0x30, NO_FAULT, "16-bit call gate at ring 0 and RETF back"
    mov eax, [scratch + 16]
    sub eax, [scratch]
    cmp eax, 4
    CHECK "same privilege: CS and IP pushed as two words"
    cmp word [scratch + 4], CODE16_OFF(r0_call_gate.after)
    CHECK "the pushed IP is the return address"
    cmp word [scratch + 6], SEL_CODE16
    CHECK "the pushed CS is the caller's"
    cmp dword [scratch + 8], 0
    CHECK "RETF returned with the stack balanced"

    ; --- 16-bit interrupt and trap gates -----------------------------
    ; Mask the PIC so that IF=1 at ring 3 lets nothing in.
    mov al, 0xFF
    out 0x21, al
    out 0xA1, al
    SET_IDT_GATE 0x41, SEL_CODE16, CODE16_OFF(int16_handler), 0xE6    ; type 6, DPL 3
    SET_IDT_GATE 0x42, SEL_CODE16, CODE16_OFF(int16_handler), 0xE7    ; type 7, DPL 3
    BEGIN_EXPECT
    ENTER_R3_16 r3_int41, 0x00000202
    END_EXPECT 0x30, NO_FAULT, "INT through a 16-bit interrupt gate from ring 3 and IRET back"
    ; Figure 6-4, 16-bit gate with a privilege change: IP, CS, FLAGS, SP,
    ; SS, all words, on the TSS's ring-0 stack.
    cmp dword [scratch], STACK0_TOP - 10
    CHECK "five words pushed on the ring-0 stack"
    cmp word [scratch + 4], CODE16_OFF(r3_after_int41)
    CHECK "16-bit frame: IP"
    cmp word [scratch + 6], SEL_R3_CODE16 | 3
    CHECK "16-bit frame: CS"
    cmp word [scratch + 8], 0x0202
    CHECK "16-bit frame: FLAGS with IF set"
    cmp word [scratch + 10], R3_SP
    CHECK "16-bit frame: SP"
    cmp word [scratch + 12], SEL_R3_STACK16 | 3
    CHECK "16-bit frame: SS"
    test word [scratch + 14], 0x0200
    CHECK "an interrupt gate clears IF"
    cmp word [scratch + 20], R3_SP
    CHECK "16-bit IRET restored the ring-3 SP"

    BEGIN_EXPECT
    ENTER_R3_16 r3_int42, 0x00000202
    END_EXPECT 0x30, NO_FAULT, "INT through a 16-bit trap gate from ring 3"
    mov ax, [scratch + 14]
    and ax, 0x0200
    cmp ax, 0x0200
    CHECK "a trap gate leaves IF set"

    ; A 16-bit trap gate at the same privilege: three words, no switch.
    BEGIN_EXPECT
    jmp SEL_CODE16:CODE16_OFF(r0_int42)
    END_EXPECT 0x30, NO_FAULT, "INT through a 16-bit trap gate at ring 0"
    mov eax, [scratch + 16]
    sub eax, [scratch]
    cmp eax, 6
    CHECK "same privilege: IP, CS, FLAGS pushed as three words"

    ; An exception with an error code through a 16-bit interrupt gate:
    ; the error code is a word too.
    SET_IDT_GATE 13, SEL_CODE16, CODE16_OFF(gp16_handler), 0x86
    BEGIN_EXPECT
    ENTER_R3_16 r3_load_ds0
    END_EXPECT 13, SEL_DATA32, "#GP through a 16-bit gate"
    cmp dword [scratch], STACK0_TOP - 12
    CHECK "16-bit frame with error code: six words"
    cmp word [scratch + 4], SEL_DATA32
    CHECK "the error code is pushed as a word below IP"
    cmp word [scratch + 6], CODE16_OFF(r3_load_ds0.fault)
    CHECK "the #GP frame's IP is the faulting instruction"
    call build_idt

    jmp finish

; --- 16-bit code -------------------------------------------------------
bits 16

; Ring 3: push two parameter words and call through the gate.
r3_call_gate:
    mov ax, SEL_DATA3
    mov ds, ax
    push word 0x1111
    push word 0x2222
r3_call:
    call SEL_GATE16 | 3:0
r3_after_call:
    mov [scratch + 20], sp
    mov [scratch + 22], ss
    mov [scratch + 24], es
    mov ax, cs
    mov [scratch + 26], ax
    int 0x30

; Ring 1 through the gate: record the frame, load ES with a DPL 1
; segment, return releasing the two parameter words.
gate16_target:
    FRAME_WORDS_TO_SCRATCH 6
    mov [scratch + 12], sp
    mov [scratch + 14], ss
    mov ax, cs
    mov [scratch + 16], ax
    mov ax, SEL_R1_STACK16 | 1
    mov es, ax
    retf 4

r3_int43:
    mov ax, SEL_DATA3
    mov ds, ax
    int 0x43
    int 0x30

r3_ud:
    ud2
    int 0x30

; Ring 1, 16-bit: note SP, return to ring 3.
r1_int_handler:
    mov [scratch + 12], sp
    iret

r3_int41:
    mov ax, SEL_DATA3
    mov ds, ax
    int 0x41
r3_after_int41:
    mov [scratch + 20], sp
    int 0x30

r3_int42:
    mov ax, SEL_DATA3
    mov ds, ax
    int 0x42
    int 0x30

r3_load_ds0:
    mov ax, SEL_DATA32
.fault:
    mov ds, ax
    int 0x30

; Ring 0, 16-bit: the handler for vectors 0x41/0x42. Records ESP, the five
; frame words and FLAGS inside the handler, then IRETs (16-bit).
int16_handler:
    push ds
    push ax
    mov ax, SEL_DATA32
    mov ds, ax
    o32 lea eax, [esp + 4]
    o32 mov [scratch], eax
    mov ax, [esp + 4]
    mov [scratch + 4], ax
    mov ax, [esp + 6]
    mov [scratch + 6], ax
    mov ax, [esp + 8]
    mov [scratch + 8], ax
    mov ax, [esp + 10]
    mov [scratch + 10], ax
    mov ax, [esp + 12]
    mov [scratch + 12], ax
    pushf
    pop ax
    mov [scratch + 14], ax
    pop ax
    pop ds
    iret

; Ring 0, 16-bit #GP handler: records ESP and the error code and IP, then
; resumes the test through the harness's 32-bit recovery path.
gp16_handler:
    mov ax, SEL_DATA32
    mov ds, ax
    o32 mov [scratch], esp
    mov ax, [esp]
    mov [scratch + 4], ax
    mov ax, [esp + 2]
    mov [scratch + 6], ax
    jmp dword SEL_CODE32:gp16_resume

; Ring 0, 16-bit code on the flat 32-bit stack: INT 0x42 (trap gate, same
; privilege), recording ESP before and inside the handler.
r0_int42:
    o32 mov [scratch + 16], esp
    int 0x42
    int 0x30

; Ring 0, 16-bit: a call through the DPL 0 16-bit gate.
r0_call_gate:
    o32 mov [scratch + 16], esp
    call SEL_GATE16_R0:0
.after:
    o32 mov eax, [scratch + 16]
    o32 sub eax, esp
    o32 mov [scratch + 8], eax
    int 0x30

gate16_same_level:
    o32 mov [scratch], esp
    mov ax, [esp]
    mov [scratch + 4], ax
    mov ax, [esp + 2]
    mov [scratch + 6], ax
    retf

bits 32
gp16_resume:
    movzx eax, word [scratch + 4]
    mov [last_error], eax
    mov dword [last_vector], 13
    mov esp, [recover_esp]
    jmp [recover_eip]

s_hello: db "pm_gate16: protected mode entered", 10, 0

%include "rom_end.inc"
