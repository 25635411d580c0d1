; The 80286's protected mode, on the 286 model: PE set with LMSW (and not
; cleared by it), 286 descriptors with 24-bit bases, LAR/LSL, segment-load
; faults, IRET to ring 3, a 286 call gate (type 4) to ring 0 with word
; parameters and RETF n back, INT from ring 3 through a 286 interrupt gate
; with the stack from the 16-bit TSS; 386 descriptor types are reserved
; and 386 instructions raise #UD (80286 PRM ch. 6-9, "Exception 6";
; SDM vol. 3 §3.5 table 3-2, §8.6).
%include "harness286.inc"
%include "frame16.inc"

SEL_BASE64K  equ 0x30           ; data, base 0x010000, limit 0xFFFF
SEL_BASE_ODD equ 0x38           ; data, base 0x012340, limit 0x00FF
SEL_GATE     equ 0x40           ; 286 call gate, DPL 3, 2 words
SEL_GATE386  equ 0x48           ; type 0xC (a 386 call gate)
SEL_TSS386   equ 0x50           ; type 9 (an available 386 TSS)
SEL_ABSENT   equ 0x58           ; data, not present
SEL_RO       equ 0x60           ; read-only data, never loaded
SEL_TSS_B    equ 0x68           ; a second 286 TSS
TSS_B        equ 0x3100

; EXPECT_UD "name", bytes...: the bytes are a 386 instruction; on the 286
; they raise #UD.
%macro EXPECT_UD 2+
    BEGIN_EXPECT
    db %2
    END_EXPECT 6, NO_FAULT, %1
%endmacro

test_main:
    mov si, OFF(s_hello)
    call print

    smsw ax
    and ax, 1
    cmp ax, 1
    CHECK "LMSW set PE"
    ; LMSW cannot clear PE: only a reset leaves protected mode on the 286.
    xor ax, ax
    lmsw ax
    smsw ax
    and ax, 1
    cmp ax, 1
    CHECK "LMSW 0 leaves PE set"

    SET_DESC286 SEL_BASE64K / 8, 0x010000, 0xFFFF, 0x92
    SET_DESC286 SEL_BASE_ODD / 8, 0x012340, 0x00FF, 0x92
    SET_GATE286 SEL_GATE / 8, SEL_CODE, OFF(gate_target), 0xE4, 2
    SET_GATE286 SEL_GATE386 / 8, SEL_CODE, OFF(gate_target), 0xEC, 0
    SET_DESC286 SEL_TSS386 / 8, TSS_BASE, 0x67, 0x89
    SET_DESC286 SEL_ABSENT / 8, 0, 0xFFFF, 0x12
    SET_DESC286 SEL_RO / 8, 0, 0xFFFF, 0x90

    ; --- Descriptors ---------------------------------------------------------
    ; Byte 4 of a descriptor is base bits 16-23: 0x012340 + 5 = 0x012345.
    mov ax, SEL_BASE64K
    mov es, ax
    mov byte [es:0x2345], 0x5A
    mov ax, SEL_BASE_ODD
    mov es, ax
    cmp byte [es:5], 0x5A
    CHECK "a 24-bit descriptor base"
    BEGIN_EXPECT
    mov al, [es:0x100]
    END_EXPECT 13, 0, "read beyond a data segment's limit: #GP(0)"
    mov ax, SEL_DATA
    mov es, ax

    mov bx, SEL_BASE_ODD
    lsl ax, bx
    cmp ax, 0x00FF
    CHECK "LSL: the 16-bit limit"
    mov bx, SEL_RO
    lar ax, bx
    cmp ax, 0x9000
    CHECK "LAR: the access byte in the high byte"
    ; Types 8-15 are not 286 descriptors (SDM table 3-2 lists them as
    ; 386 types; the 286 reserves them).
    mov bx, SEL_TSS386
    lar ax, bx
    mov ax, 0                    ; MOV leaves ZF alone
    jnz .lar_rejected
    inc ax
.lar_rejected:
    cmp ax, 0
    CHECK "LAR of a type-9 descriptor on the 286: ZF=0"
    BEGIN_EXPECT
    mov ax, SEL_TSS386
    ltr ax
    END_EXPECT 13, SEL_TSS386, "LTR of a 386 TSS on the 286: #GP(sel)"
    BEGIN_EXPECT
    call SEL_GATE386:0
    END_EXPECT 13, SEL_GATE386, "CALL through a 386 call gate on the 286: #GP(sel)"

    BEGIN_EXPECT
    mov ax, SEL_TSS
    mov ds, ax
    END_EXPECT 13, SEL_TSS, "TSS selector into DS: #GP(sel)"
    BEGIN_EXPECT
    mov ax, SEL_ABSENT
    mov ds, ax
    END_EXPECT 11, SEL_ABSENT, "not-present data into DS: #NP(sel)"
    BEGIN_EXPECT
    mov ax, SEL_RO
    mov ss, ax
    END_EXPECT 13, SEL_RO, "read-only data into SS: #GP(sel)"
    BEGIN_EXPECT
    xor ax, ax
    mov ss, ax
    END_EXPECT 13, 0, "null selector into SS: #GP(0)"
    mov ax, SEL_DATA
    mov ds, ax

    ; --- Ring 3 and back ---------------------------------------------------
    BEGIN_EXPECT
    TO_RING3 r3_code
    END_EXPECT 0x30, NO_FAULT, "IRET to ring 3, call gate to ring 0, RETF 4, INT 0x30"
    cmp word [scratch], OFF(r3_code.after)
    CHECK "call gate frame: IP"
    cmp word [scratch + 2], SEL_CODE3
    CHECK "call gate frame: CS"
    cmp word [scratch + 4], 0x2222
    CHECK "call gate frame: parameter word 0"
    cmp word [scratch + 6], 0x1111
    CHECK "call gate frame: parameter word 1"
    cmp word [scratch + 8], STACK3_TOP - 4
    CHECK "call gate frame: the caller's SP"
    cmp word [scratch + 10], SEL_DATA3
    CHECK "call gate frame: the caller's SS"
    cmp word [scratch + 12], STACK0_TOP - 12
    CHECK "the ring-0 stack came from SP0 of the TSS"
    cmp word [scratch + 14], SEL_CODE
    CHECK "the gate target ran at CPL 0"
    cmp word [scratch + 16], STACK3_TOP
    CHECK "RETF 4 restored the ring-3 SP past the parameters"
    cmp word [scratch + 18], SEL_DATA3
    CHECK "RETF restored the ring-3 SS"
    cmp word [scratch + 20], SEL_CODE3
    CHECK "RETF returned to CPL 3"
    cmp word [frame_sp], STACK0_TOP - 10
    CHECK "INT from ring 3: five words on the ring-0 stack"
    cmp word [frame + 2], SEL_CODE3
    CHECK "interrupt frame: CS"
    cmp word [frame + 6], STACK3_TOP
    CHECK "interrupt frame: SP"
    cmp word [frame + 8], SEL_DATA3
    CHECK "interrupt frame: SS"

    BEGIN_EXPECT
    TO_RING3 r3_lmsw
    END_EXPECT 13, 0, "LMSW at CPL 3: #GP(0)"

    ; --- A 286 task switch ------------------------------------------------
    ; CALL to a 286 TSS and IRET back through its link; the switch sets
    ; TS in the MSW (80286 PRM, "Task switch"; SDM vol. 3 §2.5 CR0.TS).
    clts
    mov di, TSS_B
    mov cx, 0x2C / 2
    xor ax, ax
    rep stosw
    mov word [TSS_B + 0x0E], OFF(task_b)    ; IP
    mov word [TSS_B + 0x10], 0x0002         ; FLAGS
    mov word [TSS_B + 0x1A], 0x8000         ; SP
    mov word [TSS_B + 0x22], SEL_DATA       ; ES
    mov word [TSS_B + 0x24], SEL_CODE       ; CS
    mov word [TSS_B + 0x26], SEL_DATA       ; SS
    mov word [TSS_B + 0x28], SEL_DATA       ; DS
    SET_DESC286 SEL_TSS_B / 8, TSS_B, 0x2B, 0x81
    mov bx, 0x7777
    BEGIN_EXPECT
    call SEL_TSS_B:0
    END_EXPECT NO_FAULT, NO_FAULT, "CALL to a 286 TSS and IRET back"
    cmp bx, 0x7777
    CHECK "the caller's BX came back from its TSS"
    cmp word [scratch], SEL_TSS_B
    CHECK "TR named the new task inside it"
    cmp word [scratch + 2], SEL_TSS
    CHECK "the new TSS linked back to the caller"
    mov ax, [scratch + 4]
    and ax, 1 << 14
    cmp ax, 1 << 14
    CHECK "NT was set in the called task"
    smsw ax
    and ax, 8
    cmp ax, 8
    CHECK "the task switch set MSW.TS"
    cmp byte [GDT_BASE + SEL_TSS_B + 5], 0x81
    CHECK "IRET left the called TSS available"

    ; --- 386 instructions ---------------------------------------------------
    EXPECT_UD "MOV r32, CR0 (0F 20): #UD", 0x0F, 0x20, 0xC0
    EXPECT_UD "MOVZX (0F B6): #UD", 0x0F, 0xB6, 0xC0
    EXPECT_UD "PUSH FS (0F A0): #UD", 0x0F, 0xA0
    EXPECT_UD "SETE (0F 94): #UD", 0x0F, 0x94, 0xC0
    EXPECT_UD "JE rel16 (0F 84): #UD", 0x0F, 0x84, 0x00, 0x00
    EXPECT_UD "BSF (0F BC): #UD", 0x0F, 0xBC, 0xC0
    EXPECT_UD "LSS (0F B2): #UD", 0x0F, 0xB2, 0x07

    jmp finish

; Ring 3: two parameter words, the call gate, then INT 0x30.
r3_code:
    mov ax, SEL_DATA3
    mov ds, ax
    push word 0x1111
    push word 0x2222
    call SEL_GATE | 3:0
.after:
    mov [scratch + 16], sp
    mov [scratch + 18], ss
    mov ax, cs
    mov [scratch + 20], ax
    int 0x30

task_b:
    str ax
    mov [scratch], ax
    mov ax, [TSS_B]
    mov [scratch + 2], ax
    pushf
    pop ax
    mov [scratch + 4], ax
    mov bx, 0xDEAD
    iret

r3_lmsw:
    xor ax, ax
    lmsw ax
    int 0x30

; Ring 0 through the gate: record the six-word frame, return.
gate_target:
    FRAME_WORDS_TO_SCRATCH 6
    mov [scratch + 12], sp
    mov ax, cs
    mov [scratch + 14], ax
    retf 4

s_hello: db "pm_286: protected mode entered", 10, 0

%include "rom_end.inc"
